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

"""Placement access: keystoneauth options in ``[placement]`` (as nova
reads them) and the client's own options in ``[nested_pivot]``."""

from __future__ import annotations

import copy

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

from nested_pivot.conf import engine

PLACEMENT_GROUP = cfg.OptGroup(
    'placement',
    title='Placement service credentials',
    help='The credentials and endpoint nested_pivot uses to reach '
         'Placement: the same options as nova.conf\'s [placement] group, '
         'so an existing nova.conf works unchanged.')

CLIENT_OPTS: list[cfg.Opt] = [
    cfg.IntOpt(
        'max_concurrency',
        default=8,
        min=1,
        help='Placement reads a pivot may have in flight at once (per-'
             'provider and per-consumer reads). Lower it if Placement or '
             'its database is small; raise it for hosts with many moving '
             'instances and a Placement that scales out.'),
    cfg.IntOpt(
        'max_retries',
        default=5,
        min=0,
        help='How often a request to Placement is retried on connection '
             'errors, timeouts and 5xx answers, with jittered exponential '
             'backoff. nested_pivot is the one owner of these retries: '
             'keystoneauth\'s [placement] connect_retries and '
             'status_code_retries are ignored (with a warning).'),
    cfg.IntOpt(
        'conflict_retries',
        default=5,
        min=0,
        help='How often a pivot re-reads, re-plans and retries when '
             'Placement reports a concurrent update (the scheduler claimed '
             'on the node, an instance was deleted, a provider changed '
             'while being read, its traits changed while being set). '
             'Raise it for nodes with heavy scheduling activity.'),
]


ADAPTER_DEFAULTS = {'service_type': 'placement',
                    'valid_interfaces': ['internal', 'public']}
"""nova's defaults for the keystoneauth adapter options of [placement]."""


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register the client options and the keystoneauth options."""
    engine.register_group(conf, PLACEMENT_GROUP)
    ks_loading.register_session_conf_options(conf, PLACEMENT_GROUP.name)
    ks_loading.register_auth_conf_options(conf, PLACEMENT_GROUP.name)
    ks_loading.register_adapter_conf_options(conf, PLACEMENT_GROUP.name,
                                             include_deprecated=False)
    for name, value in ADAPTER_DEFAULTS.items():
        conf.set_default(name, value, group=PLACEMENT_GROUP.name)
    engine.register_group(conf, engine.GROUP)
    conf.register_opts(CLIENT_OPTS, group=engine.GROUP.name)


def list_opts() -> list[tuple[cfg.OptGroup, list[cfg.Opt]]]:
    ks_opts = (ks_loading.get_session_conf_options()
               + ks_loading.get_auth_common_conf_options()
               + ks_loading.get_adapter_conf_options(
                   include_deprecated=False))
    return [(engine.GROUP, CLIENT_OPTS),
            (PLACEMENT_GROUP, [_with_default(o) for o in ks_opts])]


def _with_default(opt: cfg.Opt) -> cfg.Opt:
    """``opt`` as the sample config should show it: with the default
    :func:`register_opts` sets at run time."""
    if opt.dest not in ADAPTER_DEFAULTS:
        return opt
    opt = copy.copy(opt)
    opt.default = ADAPTER_DEFAULTS[opt.dest]
    return opt
