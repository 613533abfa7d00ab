"""The result of planning: moves, final records, and the POST /reshaper
body."""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
from typing import Any

from nested_pivot import exception
from nested_pivot import microversion
from nested_pivot.engine.allocations import ConsumerRecord
from nested_pivot.engine.model import Provider
from nested_pivot.engine.model import Snapshot
from nested_pivot.engine.target import TraitChange
from nested_pivot.layout import Inventory


@dataclasses.dataclass(frozen=True, order=True)
class Move:
    """``amount`` of ``resource_class`` held by ``consumer`` moves from
    provider ``source`` to provider ``target`` (uuids)."""

    consumer: str
    resource_class: str
    amount: int
    source: str
    target: str


@dataclasses.dataclass(frozen=True)
class ProviderInventory:
    """A provider's inventory after the reshape, with the generation the
    reshape must see; an empty inventory deletes all of it."""

    uuid: str
    name: str
    generation: int | None
    inventory: Mapping[str, Inventory]

    def body(self) -> dict[str, Any]:
        # A provider created by this pivot starts at generation 0.
        return {'resource_provider_generation': self.generation or 0,
                'inventories': {rc: inv.as_dict()
                                for rc, inv in sorted(self.inventory.items())}}


@dataclasses.dataclass(frozen=True)
class ReshapePlan:
    """Everything one reshape of one node changes.

    ``inventories`` and ``allocations`` hold only the providers and
    consumers that change; ``created`` children must exist before the
    reshape, ``removed`` ones are deleted after it.  ``traits`` holds the
    trait changes of the children; ``foreign`` the providers of the node's
    tree that the layout does not own, which the plan leaves as they are.
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

    @property
    def consumers(self) -> tuple[str, ...]:
        """The consumers whose allocations change."""
        return tuple(sorted(self.allocations))

    @property
    def is_noop(self) -> bool:
        return not (self.moves or self.inventories or self.created
                    or self.removed or self.traits)

    def moved(self) -> dict[str, int]:
        """Total amount moved per resource class."""
        totals: dict[str, int] = {}
        for move in self.moves:
            totals[move.resource_class] = (
                totals.get(move.resource_class, 0) + move.amount)
        return totals

    def request_body(self, version: microversion.VersionLike = '1.30'
                     ) -> dict[str, Any]:
        """The POST /reshaper body at ``version`` (1.30 to 1.39)."""
        wanted = microversion.parse(version)
        if not microversion.supports_reshaper(wanted):
            raise exception.UnsupportedMicroversion(
                version=microversion.text(wanted),
                minimum=microversion.text(microversion.RESHAPER),
                maximum=microversion.text(microversion.NEWEST_KNOWN))
        with_type = wanted >= microversion.CONSUMER_TYPE
        if with_type:
            self._check_consumer_types(wanted)
        return {
            'inventories': {u: p.body() for u, p in self.inventories.items()},
            'allocations': {c: _consumer_body(r, with_type)
                            for c, r in sorted(self.allocations.items())},
        }

    def _check_consumer_types(self, version: microversion.Version) -> None:
        untyped = sorted(c for c, r in self.allocations.items()
                         if not r.consumer_type
                         or r.consumer_type == 'unknown')
        if untyped:
            raise exception.MissingConsumerType(
                version=microversion.text(version),
                consumers=', '.join(untyped))


def _consumer_body(record: ConsumerRecord, with_type: bool
                   ) -> dict[str, Any]:
    missing = [k for k in ('project_id', 'user_id')
               if getattr(record, k) is None]
    if missing:
        raise exception.InvalidAllocations(
            reason=f'consumer {record.consumer}: {" and ".join(missing)} '
                   'needed to write its allocations')
    body: dict[str, Any] = {
        'allocations': {rp: {'resources': {rc: n for rc, n
                                           in sorted(res.items()) if n}}
                        for rp, res in sorted(record.allocations.items())
                        if any(res.values())},
        'project_id': record.project_id,
        'user_id': record.user_id,
        'consumer_generation': record.consumer_generation,
    }
    if with_type:
        body['consumer_type'] = record.consumer_type
    return body
