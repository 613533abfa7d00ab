#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.

"""Options of the nova-compute hook, in group ``[nested_pivot]``."""

from __future__ import annotations

from oslo_config import cfg

from nested_pivot.conf import engine
from nested_pivot.markers import hook_mode  # noqa: F401

# The hook's traits, kept importable from here as before.
from nested_pivot.markers import HOOK_TRAITS  # noqa: F401
from nested_pivot.markers import MODES
from nested_pivot.markers import REQUEST_TRAIT  # noqa: F401

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        'pivot_mode',
        default=MODES[0],
        choices=[
            ('startup', 'Pivot every node at the first nova-compute start '
                        'after the upgrade, in place. Use it when every '
                        'host can take the short extra work at start.'),
            ('requested', 'Keep reporting the flat equivalent of the '
                          'layout until an operator requests this node '
                          'with "nested-pivot request NODE" (a trait on '
                          'the node\'s root provider); the pivot happens '
                          'at its next restart. Use it to roll through '
                          'nodes one at a time.'),
            ('off', 'Report the flat layout. A node that was pivoted is '
                    'moved back to flat at the next start. Use it to '
                    'roll back.'),
        ],
        help='When nova-compute moves this host\'s inventory and its '
             'instances\' allocations from the flat root provider onto '
             'the nested layout of the virt driver. The decision is taken '
             'once, at nova-compute start; changes apply at the next '
             'restart.'),
    cfg.StrOpt(
        'on_infeasible',
        default='stay_flat',
        choices=[
            ('stay_flat', 'Keep the node flat and running, log one error '
                          'that names the instances that do not fit and '
                          'which to move to make room, and try again at '
                          'the next start. The safe default.'),
            ('fail', 'Stop nova-compute start with ReshapeFailed. Use it '
                     'when a node must not run flat, e.g. in a staged '
                     'rollout you watch.'),
        ],
        help='What nova-compute does when the running instances do not '
             'fit the children of the nested layout.'),
    cfg.BoolOpt(
        'mark_root',
        default=False,
        help='Keep a trait on the node\'s root provider, '
             'CUSTOM_NESTED_PIVOT_HOOK_<PIVOT_MODE>, that tells '
             '"nested-pivot" this nova-compute runs the hook, and in which '
             'pivot_mode. Off by default, so that nothing nova does not ask '
             'for appears on the root (nova\'s own tests assert the root\'s '
             'exact traits). The trade-off: an online "nested-pivot apply" '
             'or "rollback" refuses a node without the mark unless given '
             '--force, because a nova-compute that does not run the hook '
             'puts the flat inventory back on the root at its next start. '
             'Turn it on where the operators pivot online with the CLI and '
             'a trait on the root is acceptable.'),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """The hook's options and the engine's, which the hook passes on."""
    engine.register_opts(conf)
    conf.register_opts(OPTS, group=engine.GROUP.name)


def list_opts() -> list[tuple[cfg.OptGroup, list[cfg.Opt]]]:
    return [(engine.GROUP, OPTS)]
