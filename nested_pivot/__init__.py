"""nested_pivot: move a compute node's inventory and its instances'
allocations from a flat root provider onto child providers, in place.

The public API::

    from nested_pivot import Child, Layout, ProviderTree, reshape, layouts
"""

from nested_pivot import layouts
from nested_pivot.engine import Move
from nested_pivot.engine import plan
from nested_pivot.engine import reshape
from nested_pivot.engine import ReshapePlan
from nested_pivot.engine import TraitChange
from nested_pivot.layout import Child
from nested_pivot.layout import Inventory
from nested_pivot.layout import Layout
from nested_pivot.placement import pivot
from nested_pivot.placement import status
from nested_pivot.tree import ProviderTree

__all__ = ['Child', 'Inventory', 'Layout', 'Move', 'ProviderTree',
           'ReshapePlan', 'TraitChange', 'layouts', 'pivot', 'plan',
           'reshape', 'status']
