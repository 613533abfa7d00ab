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

"""Builders for unit tests: trees, flat nodes and nova-style allocations.

``NESTED_PIVOT_TREE=nova`` (the tox env ``nova``) makes every test run with
nova's own ``nova.compute.provider_tree.ProviderTree`` instead of ours.
"""

from __future__ import annotations

import copy
import os
from typing import Any
import uuid as uuidlib

from nested_pivot import tree as np_tree

TREE_KIND = os.environ.get('NESTED_PIVOT_TREE', 'nested_pivot')


def new_tree() -> Any:
    if TREE_KIND == 'nova':
        from nova.compute import provider_tree
        return provider_tree.ProviderTree()
    return np_tree.ProviderTree()


def uuid(label: str) -> str:
    """A stable uuid for a readable label."""
    return str(uuidlib.uuid5(uuidlib.NAMESPACE_DNS, label))


def flat_node(name: str = 'cn1', inventory: dict[str, Any] | None = None,
              tree: Any = None, generation: int = 5) -> tuple[Any, str]:
    tree = tree if tree is not None else new_tree()
    root = uuid(name)
    tree.new_root(name, root, generation=generation)
    tree.update_inventory(root, inventory if inventory is not None else {
        'VCPU': {'total': 16}, 'MEMORY_MB': {'total': 16384},
        'DISK_GB': {'total': 500}})
    return tree, root


def consumer(label: str, allocations: dict[str, dict[str, int]],
             consumer_type: str | None = None,
             generation: int = 1) -> tuple[str, dict[str, Any]]:
    record: dict[str, Any] = {
        'allocations': {rp: {'resources': dict(res), 'generation': 7}
                        for rp, res in allocations.items()},
        'project_id': uuid('project-' + label),
        'user_id': uuid('user-' + label),
        'consumer_generation': generation,
    }
    if consumer_type:
        record['consumer_type'] = consumer_type
    return uuid(label), record


def allocations(*consumers: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return dict(consumers)


def snapshot(tree: Any) -> list[tuple[Any, ...]]:
    """Everything observable about a tree, to assert it did not change."""
    result = []
    for u in tree.get_provider_uuids():
        d = tree.data(u)
        result.append((d.uuid, d.name, d.generation, d.parent_uuid,
                       copy.deepcopy(d.inventory), sorted(d.traits)))
    return result


def totals(allocs: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Per consumer, the total of each resource class over providers."""
    result: dict[str, dict[str, int]] = {}
    for c, rec in allocs.items():
        per = result.setdefault(c, {})
        for entry in rec['allocations'].values():
            for rc, n in entry['resources'].items():
                per[rc] = per.get(rc, 0) + n
    return result


def on(allocs: dict[str, Any], consumer_uuid: str
       ) -> dict[str, dict[str, int]]:
    return {rp: dict(e['resources'])
            for rp, e in allocs[consumer_uuid]['allocations'].items()}


def child(tree: Any, name: str) -> str:
    return str(tree.data(name).uuid)
