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

"""A provider tree for users without nova.

:class:`ProviderTree` has the method names and semantics of nova's
``nova.compute.provider_tree.ProviderTree`` that nested_pivot uses, so the
engine takes either.  Providers are found by name or uuid; unknown ones
raise ``ValueError`` as nova's do.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
import copy
import dataclasses
from typing import Any
from typing import NamedTuple
import uuid as uuidlib


class ProviderData(NamedTuple):
    """A point-in-time copy of one provider, as nova's ProviderData."""

    uuid: str
    name: str
    generation: int | None
    parent_uuid: str | None
    inventory: dict[str, dict[str, Any]]
    traits: set[str]
    aggregates: set[str]
    resources: dict[str, Any]


@dataclasses.dataclass
class _Provider:
    uuid: str
    name: str
    generation: int | None
    parent_uuid: str | None
    children: list[str] = dataclasses.field(default_factory=list)
    inventory: dict[str, dict[str, Any]] = dataclasses.field(
        default_factory=dict)
    traits: set[str] = dataclasses.field(default_factory=set)
    aggregates: set[str] = dataclasses.field(default_factory=set)

    def data(self) -> ProviderData:
        return ProviderData(self.uuid, self.name, self.generation,
                            self.parent_uuid, copy.deepcopy(self.inventory),
                            set(self.traits), set(self.aggregates), {})

    def set_generation(self, generation: int | None) -> None:
        if generation is not None:
            self.generation = generation


class ProviderTree:
    """Resource providers in trees, keyed by uuid and by (unique) name."""

    def __init__(self) -> None:
        self._by_uuid: dict[str, _Provider] = {}
        self._by_name: dict[str, str] = {}
        self._roots: list[str] = []

    # -- lookup ------------------------------------------------------------
    def _find(self, name_or_uuid: str) -> _Provider:
        found = self._by_uuid.get(name_or_uuid)
        if found is None and name_or_uuid in self._by_name:
            found = self._by_uuid[self._by_name[name_or_uuid]]
        if found is None:
            raise ValueError(f'No such provider {name_or_uuid}')
        return found

    def _root_of(self, provider: _Provider) -> _Provider:
        while provider.parent_uuid is not None:
            provider = self._by_uuid[provider.parent_uuid]
        return provider

    def _top_down(self, provider: _Provider) -> list[str]:
        result = [provider.uuid]
        for child in provider.children:
            result.extend(self._top_down(self._by_uuid[child]))
        return result

    @property
    def roots(self) -> list[ProviderData]:
        return [self._by_uuid[u].data() for u in self._roots]

    def exists(self, name_or_uuid: str) -> bool:
        return (name_or_uuid in self._by_uuid
                or name_or_uuid in self._by_name)

    def data(self, name_or_uuid: str) -> ProviderData:
        return self._find(name_or_uuid).data()

    def get_provider_uuids(self, name_or_uuid: str | None = None
                           ) -> list[str]:
        """Top-down uuids of a (sub)tree, or of every tree."""
        if name_or_uuid is not None:
            return self._top_down(self._find(name_or_uuid))
        return [u for root in self._roots
                for u in self._top_down(self._by_uuid[root])]

    def get_provider_uuids_in_tree(self, name_or_uuid: str) -> list[str]:
        return self._top_down(self._root_of(self._find(name_or_uuid)))

    # -- structure ---------------------------------------------------------
    def _add(self, provider: _Provider) -> str:
        if self.exists(provider.uuid) or self.exists(provider.name):
            raise ValueError(
                f'Provider {provider.uuid} ({provider.name}) already exists.')
        self._by_uuid[provider.uuid] = provider
        self._by_name[provider.name] = provider.uuid
        if provider.parent_uuid is None:
            self._roots.append(provider.uuid)
        else:
            self._by_uuid[provider.parent_uuid].children.append(provider.uuid)
        return provider.uuid

    def new_root(self, name: str, uuid: str,
                 generation: int | None = None) -> str:
        return self._add(_Provider(uuid, name, generation, None))

    def new_child(self, name: str, parent: str, uuid: str | None = None,
                  generation: int | None = None) -> str:
        parent_uuid = self._find(parent).uuid
        return self._add(_Provider(uuid or str(uuidlib.uuid4()), name,
                                   generation, parent_uuid))

    def remove(self, name_or_uuid: str) -> None:
        """Remove a provider and all its descendants."""
        provider = self._find(name_or_uuid)
        for uuid in self._top_down(provider):
            gone = self._by_uuid.pop(uuid)
            del self._by_name[gone.name]
        if provider.parent_uuid is None:
            self._roots.remove(provider.uuid)
        else:
            self._by_uuid[provider.parent_uuid].children.remove(provider.uuid)

    def reparent(self, name_or_uuid: str, parent: str) -> None:
        """Move a provider (and its descendants) under ``parent`` in the
        same tree, as Placement does from microversion 1.37.  nova's
        ProviderTree has no such operation."""
        provider = self._find(name_or_uuid)
        new_parent = self._find(parent)
        if new_parent.uuid in self._top_down(provider):
            raise ValueError(f'{new_parent.name} is {provider.name} or '
                             f'below it')
        if self._root_of(new_parent) is not self._root_of(provider):
            raise ValueError(f'{new_parent.name} is in another tree')
        old = provider.parent_uuid
        if old is None:
            raise ValueError(f'{provider.name} is a root')
        self._by_uuid[old].children.remove(provider.uuid)
        new_parent.children.append(provider.uuid)
        provider.parent_uuid = new_parent.uuid

    def rename(self, name_or_uuid: str, name: str) -> None:
        """Give a provider a new name, as Placement does (``PUT
        /resource_providers/{uuid}``).  nova's ProviderTree has no such
        operation."""
        provider = self._find(name_or_uuid)
        if name != provider.name and self.exists(name):
            raise ValueError(f'Provider {name} already exists.')
        del self._by_name[provider.name]
        provider.name = name
        self._by_name[name] = provider.uuid

    def populate_from_iterable(self,
                               provider_dicts: Iterable[Mapping[str, Any]]
                               ) -> None:
        """Add or replace providers from placement-style dicts (name, uuid,
        generation, parent_provider_uuid), parents before children."""
        pending = {d['uuid']: d for d in provider_dicts}
        known = set(self._by_uuid) | set(pending) | {None}
        missing = {d.get('parent_provider_uuid') for d in pending.values()
                   } - known
        if missing:
            raise ValueError('The following parents were not found: '
                             + ', '.join(sorted(map(str, missing))))
        while pending:
            uuid, pdict = next(
                (u, d) for u, d in pending.items()
                if d.get('parent_provider_uuid') not in pending)
            if uuid in self._by_uuid:
                self.remove(uuid)
            self._add(_Provider(uuid, pdict['name'], pdict.get('generation'),
                                pdict.get('parent_provider_uuid')))
            del pending[uuid]

    # -- inventory ---------------------------------------------------------
    def has_inventory(self, name_or_uuid: str) -> bool:
        return bool(self._find(name_or_uuid).inventory)

    def has_inventory_changed(self, name_or_uuid: str,
                              inventory: Mapping[str, Mapping[str, Any]]
                              ) -> bool:
        """As nova: keys missing from a new record are not a change."""
        current = self._find(name_or_uuid).inventory
        if set(current) != set(inventory):
            return True
        for rc, record in current.items():
            new = inventory[rc]
            if set(new) - set(record):
                return True
            if any(new[k] != v for k, v in record.items() if k in new):
                return True
        return False

    def update_inventory(self, name_or_uuid: str,
                         inventory: Mapping[str, Mapping[str, Any]],
                         generation: int | None = None) -> bool:
        provider = self._find(name_or_uuid)
        provider.set_generation(generation)
        changed = self.has_inventory_changed(name_or_uuid, inventory)
        if changed:
            provider.inventory = copy.deepcopy(dict(inventory))  # type: ignore[arg-type]
        return changed

    # -- traits ------------------------------------------------------------
    def has_traits(self, name_or_uuid: str, traits: Iterable[str]) -> bool:
        return set(traits) <= self._find(name_or_uuid).traits

    def have_traits_changed(self, name_or_uuid: str,
                            traits: Iterable[str]) -> bool:
        return set(traits) != self._find(name_or_uuid).traits

    def update_traits(self, name_or_uuid: str, traits: Iterable[str],
                      generation: int | None = None) -> bool:
        provider = self._find(name_or_uuid)
        provider.set_generation(generation)
        changed = set(traits) != provider.traits
        provider.traits = set(traits)
        return changed

    def add_traits(self, name_or_uuid: str, *traits: str) -> None:
        self._find(name_or_uuid).traits.update(traits)

    def remove_traits(self, name_or_uuid: str, *traits: str) -> None:
        self._find(name_or_uuid).traits.difference_update(traits)

    # -- aggregates --------------------------------------------------------
    def in_aggregates(self, name_or_uuid: str,
                      aggregates: Iterable[str]) -> bool:
        return set(aggregates) <= self._find(name_or_uuid).aggregates

    def have_aggregates_changed(self, name_or_uuid: str,
                                aggregates: Iterable[str]) -> bool:
        return set(aggregates) != self._find(name_or_uuid).aggregates

    def update_aggregates(self, name_or_uuid: str, aggregates: Iterable[str],
                          generation: int | None = None) -> bool:
        provider = self._find(name_or_uuid)
        provider.set_generation(generation)
        changed = set(aggregates) != provider.aggregates
        provider.aggregates = set(aggregates)
        return changed

    def add_aggregates(self, name_or_uuid: str, *aggregates: str) -> None:
        self._find(name_or_uuid).aggregates.update(aggregates)

    def remove_aggregates(self, name_or_uuid: str, *aggregates: str) -> None:
        self._find(name_or_uuid).aggregates.difference_update(aggregates)
