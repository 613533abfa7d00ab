"""nested_pivot's Placement client: read a node, pivot it, tell its state.

Everything here talks to a real Placement through a keystoneauth1 Adapter:
an online endpoint, or ``placement.direct.PlacementDirect`` offline.
"""

from nested_pivot.placement.http import PlacementClient
from nested_pivot.placement.operations import NodeState
from nested_pivot.placement.operations import NodeStatus
from nested_pivot.placement.operations import pivot
from nested_pivot.placement.operations import PivotResult
from nested_pivot.placement.operations import status

__all__ = ['NodeState', 'NodeStatus', 'PivotResult', 'PlacementClient',
           'pivot', 'status']
