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

"""Typed snapshots of a node's provider tree, read from a duck-typed tree.

The engine never works on the caller's tree directly: it reads a
:class:`Snapshot`, plans on values, and writes back only on success.
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
from typing import Any
from typing import Protocol

import os_traits

from nested_pivot import exception
from nested_pivot.layout import Inventory

Usage = dict[str, dict[str, int]]
"""provider -> class -> amount used."""


class TreeLike(Protocol):
    """The part of nova's ProviderTree API the engine uses."""

    def get_provider_uuids(self, name_or_uuid: Any = None) -> list[str]: ...

    def data(self, name_or_uuid: str) -> Any: ...

    def exists(self, name_or_uuid: str) -> bool: ...

    def new_child(self, name: str, parent: str, uuid: Any = None,
                  generation: Any = None) -> str: ...

    def remove(self, name_or_uuid: str) -> None: ...

    def update_inventory(self, name_or_uuid: str, inventory: Any,
                         generation: Any = None) -> bool: ...

    def update_traits(self, name_or_uuid: str, traits: Any,
                      generation: Any = None) -> bool: ...


@dataclasses.dataclass(frozen=True)
class Provider:
    """One provider: its place in the tree, inventory and traits."""

    uuid: str
    name: str
    parent: str | None
    generation: int | None
    inventory: Mapping[str, Inventory]
    traits: frozenset[str]


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """A node's tree: providers keyed by uuid, in top-down order."""

    root: str
    providers: Mapping[str, Provider]

    @property
    def root_provider(self) -> Provider:
        return self.providers[self.root]

    def children(self, uuid: str) -> list[str]:
        return [p.uuid for p in self.providers.values() if p.parent == uuid]

    def descendants(self, uuid: str) -> list[str]:
        """Descendants of ``uuid``, nearest first (breadth first)."""
        result: list[str] = []
        frontier = self.children(uuid)
        while frontier:
            result.extend(frontier)
            frontier = [c for p in frontier for c in self.children(p)]
        return result

    def ancestors(self, uuid: str) -> list[str]:
        """Ancestors of ``uuid``, nearest first."""
        result = []
        parent = self.providers[uuid].parent
        while parent is not None:
            result.append(parent)
            parent = self.providers[parent].parent
        return result

    def offers(self, uuid: str, resource_class: str) -> bool:
        return resource_class in self.providers[uuid].inventory


def find_root(tree: TreeLike, nodename: str | None) -> str:
    """The uuid of the node's root provider.

    Without ``nodename`` the tree must hold one root that is not a sharing
    provider.
    """
    if nodename is not None:
        if not tree.exists(nodename):
            raise exception.InvalidTree(
                reason=f'node {nodename} is not in the provider tree')
        data = tree.data(nodename)
        if data.parent_uuid is not None:
            raise exception.InvalidTree(
                reason=f'{nodename} is not a root provider')
        return str(data.uuid)
    roots = [d for d in map(tree.data, tree.get_provider_uuids())
             if d.parent_uuid is None
             and os_traits.MISC_SHARES_VIA_AGGREGATE not in d.traits]
    if len(roots) != 1:
        raise exception.InvalidTree(
            reason=f'expected one compute node root, found '
                   f'{len(roots)} ({", ".join(sorted(d.name for d in roots))})'
                   '; pass nodename')
    return str(roots[0].uuid)


def read_snapshot(tree: TreeLike, root: str) -> Snapshot:
    """Read the subtree of ``root`` into typed values."""
    providers = {}
    for uuid in tree.get_provider_uuids(root):
        provider = read_provider(tree, uuid)
        if uuid == root:
            provider = dataclasses.replace(provider, parent=None)
        providers[provider.uuid] = provider
    return Snapshot(root=root, providers=providers)


def read_provider(tree: TreeLike, name_or_uuid: str) -> Provider:
    """One provider of ``tree`` as a typed value."""
    data = tree.data(name_or_uuid)
    return Provider(
        uuid=data.uuid, name=data.name, parent=data.parent_uuid,
        generation=data.generation,
        inventory=read_inventory(data.name, data.inventory),
        traits=frozenset(data.traits))


def read_inventory(name: str, inventory: Mapping[str, Any]
                   ) -> dict[str, Inventory]:
    """Placement's (or nova's) inventory records of provider ``name``."""
    result = {}
    for rc, record in inventory.items():
        try:
            result[rc] = Inventory.from_value(record)
        except (TypeError, ValueError) as err:
            raise exception.InvalidTree(
                reason=f'provider {name}: inventory of {rc}: {err}') from None
    return result
