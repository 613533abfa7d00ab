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

"""The reads of the nodes the commands select, plan and classify, as
Placement holds them.  The commands reach the Placement layer's reads
through here."""

from __future__ import annotations

import urllib.parse

from nested_pivot.placement.http import PlacementClient
from nested_pivot.placement.operations import classify
from nested_pivot.placement.operations import FAILING
from nested_pivot.placement.operations import NodeState
from nested_pivot.placement.operations import NodeStatus
from nested_pivot.placement.operations import PENDING
from nested_pivot.placement.operations import read_and_plan
from nested_pivot.placement.operations import UNFIT
from nested_pivot.placement.read import find_node
from nested_pivot.placement.read import list_roots
from nested_pivot.placement.read import NodeRead
from nested_pivot.placement.read import PROVIDERS
from nested_pivot.placement.read import read_node

__all__ = [
    'FAILING',
    'PENDING',
    'UNFIT',
    'NodeRead',
    'NodeState',
    'NodeStatus',
    'classify',
    'find_node',
    'in_aggregate',
    'list_roots',
    'read_and_plan',
    'read_node',
]


def in_aggregate(client: PlacementClient, aggregate: str) -> set[str]:
    """The uuids of the providers that are members of ``aggregate``."""
    members = client.get('/resource_providers?member_of='
                         + urllib.parse.quote(aggregate), PROVIDERS)
    return {p['uuid'] for p in members['resource_providers']}
