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
