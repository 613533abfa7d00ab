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

"""The result of planning: the moves and the final records.

The wire format (the ``POST /reshaper`` body) is built beside it, in
:mod:`nested_pivot.engine.body`, and sent by the Placement layer.
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
from typing import Any

from nested_pivot import microversion
from nested_pivot.engine.allocations import ConsumerRecord
from nested_pivot.engine.body import reshape_body
from nested_pivot.engine.model import Provider
from nested_pivot.engine.model import Snapshot
from nested_pivot.engine.target import TraitChange
from nested_pivot.layout import Inventory


@dataclasses.dataclass(frozen=True, order=True)
class Move:
    """``amount`` of ``resource_class`` held by ``consumer`` moves from
    provider ``source`` to provider ``target`` (uuids).

    With ``converted_from``, the consumer held that class, and holds
    ``resource_class`` after the move (``source`` may be ``target``: a
    conversion in place).
    """

    consumer: str
    resource_class: str
    amount: int
    source: str
    target: str
    converted_from: str = ''


@dataclasses.dataclass(frozen=True, order=True)
class Heal:
    """``consumer`` gets ``amount`` of ``resource_class`` on ``target``: a
    resource it used but never held an allocation for."""

    consumer: str
    resource_class: str
    amount: int
    target: str


@dataclasses.dataclass(frozen=True, order=True)
class Correction:
    """``amount`` of ``resource_class`` that ``consumer`` held on
    ``provider`` beyond what it uses: removed by a correction."""

    consumer: str
    resource_class: str
    amount: int
    provider: str


@dataclasses.dataclass(frozen=True, order=True)
class BelowUsage:
    """After the plan, ``provider`` (uuid, ``name``) offers ``capacity`` of
    ``resource_class`` while allocations that stay on it use ``used``:
    Placement accepts it (nova's one-time-use devices rely on it), and no
    allocation moves because of it."""

    provider: str
    name: str
    resource_class: str
    capacity: int | float
    used: int


@dataclasses.dataclass(frozen=True)
class ProviderInventory:
    """A provider's inventory after the reshape, with the generation the
    reshape must see; an empty inventory deletes all of it."""

    uuid: str
    name: str
    generation: int | None
    inventory: Mapping[str, Inventory]


@dataclasses.dataclass(frozen=True)
class ReshapePlan:
    """Everything one reshape of one node changes.

    ``inventories`` and ``allocations`` hold only the providers and
    consumers that change; ``created`` children must exist before the
    reshape, ``removed`` ones are deleted after it.  ``traits`` holds the
    trait changes of the children (and of the root, when the layout adds
    or drops root traits); ``foreign`` the providers of the node's tree
    that the layout does not own, which the plan leaves as they are.
    ``heals`` are allocations added for resources never held;
    ``reparented`` children move under a new parent (uuid -> parent uuid)
    before the reshape; ``renamed`` ones take a new name (uuid -> name),
    their allocations untouched.  ``corrections`` are excess amounts
    removed by a ``correct`` hint (its missing parts are ``heals``).
    ``below_usage`` reports the records left below
    what stays allocated on them by their ``reserved`` amount.
    """

    node: str
    root: str
    moves: tuple[Move, ...]
    allocations: Mapping[str, ConsumerRecord]
    inventories: Mapping[str, ProviderInventory]
    created: tuple[Provider, ...]
    removed: tuple[str, ...]
    traits: Mapping[str, TraitChange]
    before: Snapshot = dataclasses.field(repr=False)
    after: Snapshot = dataclasses.field(repr=False)
    foreign: frozenset[str] = frozenset()
    heals: tuple[Heal, ...] = ()
    reparented: Mapping[str, str] = dataclasses.field(default_factory=dict)
    below_usage: tuple[BelowUsage, ...] = ()
    corrections: tuple[Correction, ...] = ()
    renamed: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def consumers(self) -> tuple[str, ...]:
        """The consumers whose allocations change."""
        return tuple(sorted(self.allocations))

    @property
    def is_noop(self) -> bool:
        return not (self.moves or self.inventories or self.created
                    or self.removed or self.traits or self.heals
                    or self.reparented or self.corrections
                    or self.renamed)

    def moved(self) -> dict[str, int]:
        """Total amount moved per resource class."""
        totals: dict[str, int] = {}
        for move in self.moves:
            totals[move.resource_class] = (
                totals.get(move.resource_class, 0) + move.amount)
        return totals

    def request_body(self, version: microversion.VersionLike = (
            microversion.RESHAPER)) -> dict[str, Any]:
        """The POST /reshaper body at ``version`` (1.30 to 1.39)."""
        return reshape_body(self, version)


@dataclasses.dataclass(frozen=True)
class AmountChange:
    """A consumer whose amounts on the node change, not only their place:
    a conversion (VCPU to PCPU) or a heal.  ``before`` and ``after`` are
    its totals per class on the node's providers (and the sharing ones
    its layout sends a class to)."""

    consumer: str
    before: Mapping[str, int]
    after: Mapping[str, int]


def amount_changes(plan: ReshapePlan,
                   records: Mapping[str, ConsumerRecord]
                   ) -> tuple[AmountChange, ...]:
    """The consumers of ``plan`` whose amounts change, from their records
    before it."""
    found = []
    for consumer, record in sorted(plan.allocations.items()):
        before = _totals(records.get(consumer), plan.before.providers)
        after = _totals(record, plan.after.providers)
        if before != after:
            found.append(AmountChange(consumer, before, after))
    return tuple(found)


def _totals(record: ConsumerRecord | None,
            providers: Mapping[str, Provider]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for rp, resources in (record.allocations.items() if record else ()):
        if rp in providers:
            for rc, n in resources.items():
                if n:
                    totals[rc] = totals.get(rc, 0) + n
    return dict(sorted(totals.items()))
