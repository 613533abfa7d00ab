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

"""nested_pivot: move a compute node's inventory and its instances'
allocations from a flat root provider onto child providers, in place.

The public API::

    from nested_pivot import Child, Layout, ProviderTree, reshape, layouts

:func:`pivot` and :func:`status` (from :mod:`nested_pivot.placement`) are
loaded on first use, so that the engine alone never loads an HTTP client.
"""

from typing import Any

from nested_pivot import layouts
from nested_pivot.engine import Move
from nested_pivot.engine import plan
from nested_pivot.engine import reshape
from nested_pivot.engine import ReshapePlan
from nested_pivot.engine import TraitChange
from nested_pivot.layout import Child
from nested_pivot.layout import Inventory
from nested_pivot.layout import Layout
from nested_pivot.tree import ProviderTree

__all__ = ['Child', 'Inventory', 'Layout', 'Move', 'ProviderTree',
           'ReshapePlan', 'TraitChange', 'layouts', 'pivot', 'plan',
           'reshape', 'status']

_PLACEMENT = ('pivot', 'status')


def __getattr__(name: str) -> Any:
    if name in _PLACEMENT:
        from nested_pivot import placement

        return getattr(placement, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
