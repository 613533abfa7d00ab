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

"""Configuration options of nested_pivot.

Options are registered by calling :func:`register_opts`; :func:`list_opts`
feeds ``oslo-config-generator --namespace nested_pivot``.
"""

from __future__ import annotations

from oslo_config import cfg

from nested_pivot.conf import compute
from nested_pivot.conf import engine
from nested_pivot.conf import placement

_MODULES = (engine, compute, placement)


def register_opts(conf: cfg.ConfigOpts) -> None:
    for module in _MODULES:
        module.register_opts(conf)


def list_opts() -> list[tuple[cfg.OptGroup, list[cfg.Opt]]]:
    """Every option, one entry per group, for the sample config
    generator."""
    groups: dict[str, tuple[cfg.OptGroup, list[cfg.Opt]]] = {}
    for module in _MODULES:
        for group, opts in module.list_opts():
            groups.setdefault(group.name, (group, []))[1].extend(opts)
    return list(groups.values())
