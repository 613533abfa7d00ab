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

"""Options of the pivot engine, in group ``[nested_pivot]``."""

from __future__ import annotations

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'nested_pivot',
    title='nested_pivot options',
    help='How nested_pivot moves a flat compute node onto child providers.')

OPTS: list[cfg.Opt] = [
    cfg.IntOpt(
        'search_budget',
        default=200000,
        min=1000,
        help='Search nodes the exact packer may visit per group of '
             'consumers before it gives up and reports that the '
             'instances do not fit. Raise it only when a pivot of a '
             'tightly packed host reports that the search gave up; '
             'hints from the hypervisor are the better fix.'),
]


def register_group(conf: cfg.ConfigOpts, group: cfg.OptGroup) -> None:
    """Register a copy of ``group``: oslo.config keeps overrides in the
    group object, which must not be shared between ConfigOpts."""
    conf.register_group(cfg.OptGroup(group.name, title=group.title,
                                     help=group.help))


def register_opts(conf: cfg.ConfigOpts) -> None:
    register_group(conf, GROUP)
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> list[tuple[cfg.OptGroup, list[cfg.Opt]]]:
    return [(GROUP, OPTS)]
