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
