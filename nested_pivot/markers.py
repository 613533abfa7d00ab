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

"""The traits nested_pivot keeps on a node's root provider in Placement,
where both the ``nested-pivot`` command and the node's nova-compute see
them.  Constants, not options: every layer may read them."""

from __future__ import annotations

REQUEST_TRAIT = 'CUSTOM_NESTED_PIVOT_REQUESTED'
"""The trait on a node's root provider that requests its pivot."""

MODES = ('startup', 'requested', 'off')
"""The hook's ``pivot_mode`` values, the default first."""

HOOK_TRAITS = {mode: f'CUSTOM_NESTED_PIVOT_HOOK_{mode.upper()}'
               for mode in MODES}
"""The trait the hook keeps on a node's root provider: this node's
nova-compute runs nested_pivot's hook, in that ``pivot_mode``."""


def hook_mode(traits: frozenset[str] | set[str]) -> str | None:
    """The ``pivot_mode`` a root's traits say its nova-compute runs the
    hook in, or None when it does not run it."""
    found = [mode for mode, trait in HOOK_TRAITS.items() if trait in traits]
    return found[0] if len(found) == 1 else None
