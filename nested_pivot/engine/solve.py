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

"""Decide where every displaced allocation goes, and check the result."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
import operator
from typing import Any

from nested_pivot import exception
from nested_pivot.engine import packing
from nested_pivot.engine.allocations import ConsumerRecord
from nested_pivot.engine.displace import Displaced
from nested_pivot.engine.displace import stranded
from nested_pivot.engine.hints import Placed
from nested_pivot.engine.model import Usage
from nested_pivot.engine.result import BelowUsage
from nested_pivot.engine.result import Move
from nested_pivot.engine.target import Target
from nested_pivot.layout import shown

Final = dict[str, dict[str, dict[str, int]]]
"""consumer -> provider -> class -> amount: the moving consumers'
allocations after the pivot."""


def solve(target: Target, records: Mapping[str, ConsumerRecord],
          displaced: list[Displaced], hinted: Placed,
          budget: int = packing.DEFAULT_BUDGET
          ) -> tuple[list[Move], Final, list[BelowUsage]]:
    """The moves, the final allocations of the consumers that move, and
    the records left below their usage by ``reserved`` (:func:`below_usage`).

    :raises InventoryBelowUsage: allocations that stay exceed a new total.
    :raises CannotPivot: the displaced allocations fit no valid placement.
    """
    usage = staying_usage(target, records.values())
    below = below_usage(target, usage, displaced)
    placed = _place_hinted(target, records, hinted, usage, displaced)
    items = _items(target, records, displaced, hinted)
    capacity = {u: {rc: inv.capacity for rc, inv in p.inventory.items()}
                for u, p in target.after.providers.items()}
    result = packing.pack(items, capacity, usage, budget,
                          _affinity(target, placed))
    if not result.ok:
        raise _cannot_pivot(target, items, result, displaced)
    for index, bin_ in result.assignment.items():
        for rc, amount in items[index].demand:
            _add(placed, items[index].consumer, rc, bin_, amount)
    moves = _moves(displaced, placed)
    final = _final(records, moves)
    _verify(target, records, final, displaced)
    return moves, final, below


def _affinity(target: Target, placed: Placed) -> packing.Affinity:
    """Tree branches to keep each consumer in, starting from its hints."""
    after = target.after
    return packing.Affinity(
        {u: frozenset(after.ancestors(u)) for u in after.providers},
        {c: {b for split in per_rc.values() for b in split}
         for c, per_rc in placed.items()})


def staying_usage(target: Target, records: Iterable[ConsumerRecord]
                  ) -> Usage:
    """Usage per provider and class of the allocations that stay."""
    usage: Usage = {u: {} for u in target.after.providers}
    for record in records:
        for rp, resources in record.allocations.items():
            if rp not in usage:
                continue
            offered = target.after.providers[rp].inventory
            for rc, amount in resources.items():
                if rc in offered:
                    usage[rp][rc] = usage[rp].get(rc, 0) + amount
    return usage


def below_usage(target: Target, usage: Usage,
                displaced: list[Displaced]) -> list[BelowUsage]:
    """The records whose capacity is below what stays allocated on them.

    Placement accepts both kinds; the engine refuses one.  A ``total``
    (times the ratio) below the usage says the layout is wrong about the
    device, and is refused.  A capacity below the usage only because of
    ``reserved`` is how nova takes a one-time-use PCI device out of
    scheduling while it is allocated (``reserved = total``): it is
    reported, and never makes an allocation move.
    """
    found = []
    for uuid, provider in target.after.providers.items():
        if not target.inventory_changed(uuid):
            continue
        for rc, inv in sorted(provider.inventory.items()):
            used = usage[uuid].get(rc, 0)
            if used <= inv.capacity:
                continue
            if used > inv.total * inv.allocation_ratio:
                raise exception.InventoryBelowUsage(
                    node=target.node, provider=provider.name,
                    resource_class=rc, capacity=shown(inv.capacity),
                    used=used, **_moving(displaced))
            found.append(BelowUsage(uuid, provider.name, rc,
                                    shown(inv.capacity), used))
    return found


def _place_hinted(target: Target, records: Mapping[str, ConsumerRecord],
                  hinted: Placed, usage: Usage,
                  displaced: list[Displaced]) -> Placed:
    placed: Placed = {}
    for consumer, per_rc in sorted(hinted.items()):
        for rc, split in sorted(per_rc.items()):
            for uuid, amount in sorted(split.items()):
                _add(placed, consumer, rc, uuid, amount)
                usage[uuid][rc] = usage[uuid].get(rc, 0) + amount
                _check_hint(target, records[consumer], rc, uuid,
                            usage[uuid][rc], displaced)
    return placed


def _check_hint(target: Target, record: ConsumerRecord, rc: str,
                uuid: str, used: int, displaced: list[Displaced]) -> None:
    provider = target.after.providers[uuid]
    inv = provider.inventory[rc]
    if used > inv.capacity:
        raise exception.CannotPivot(
            node=target.node, unplaced=(record.consumer,),
            **_moving(displaced),
            reason=f'the hint for consumer {record.consumer} puts {rc} on '
                   f'{provider.name}, which would then hold {used} of '
                   f'{shown(inv.capacity)}')


def _items(target: Target, records: Mapping[str, ConsumerRecord],
           displaced: list[Displaced], hinted: Placed
           ) -> list[packing.Item]:
    """One item per consumer and candidate set, holding the classes that
    must land together."""
    groups: dict[tuple[str, tuple[str, ...]], dict[str, int]] = {}
    for d in displaced:
        if d.resource_class in hinted.get(d.consumer, {}):
            continue
        if not d.candidates:
            raise stranded(target, d)
        demand = groups.setdefault((d.consumer, d.candidates), {})
        demand[d.resource_class] = (demand.get(d.resource_class, 0)
                                    + d.amount)
    admits = _Admits(target)
    items = []
    for (consumer, candidates), demand in groups.items():
        needs = tuple(sorted(demand.items()))
        bins = admits.bins(records[consumer], candidates, needs)
        items.append(packing.Item(consumer, needs, bins))
    return items


Needs = tuple[tuple[str, int], ...]


class _Admits:
    """The candidates whose min_unit, max_unit and step_size allow what a
    consumer would hold there; cached for consumers new to them all."""

    def __init__(self, target: Target) -> None:
        self.providers = target.after.providers
        self.known: dict[tuple[tuple[str, ...], Needs], tuple[str, ...]] = {}

    def bins(self, record: ConsumerRecord, candidates: tuple[str, ...],
             needs: Needs) -> tuple[str, ...]:
        if not record.allocations.keys().isdisjoint(candidates):
            return self._filter(record, candidates, needs)
        key = (candidates, needs)
        if key not in self.known:
            self.known[key] = self._filter(record, candidates, needs)
        return self.known[key]

    def _filter(self, record: ConsumerRecord, candidates: tuple[str, ...],
                needs: Needs) -> tuple[str, ...]:
        return tuple(b for b in candidates if self._check(record, b, needs))

    def _check(self, record: ConsumerRecord, uuid: str,
               needs: Needs) -> bool:
        inventory = self.providers[uuid].inventory
        return all(inventory[rc].admits(record.amount(uuid, rc) + n)
                   for rc, n in needs)


def _add(placed: Placed, consumer: str, rc: str, uuid: str,
         amount: int) -> None:
    split = placed.setdefault(consumer, {}).setdefault(rc, {})
    split[uuid] = split.get(uuid, 0) + amount


def _moves(displaced: list[Displaced], placed: Placed) -> list[Move]:
    """Pair each displaced amount with where it was placed."""
    moves = []
    left = {(c, rc): dict(split) for c, per_rc in placed.items()
            for rc, split in per_rc.items()}
    for d in displaced:
        need = d.amount
        split = left[(d.consumer, d.resource_class)]
        for uuid in sorted(split):
            take = min(need, split[uuid])
            if take:
                moves.append(Move(d.consumer, d.resource_class, take,
                                  d.source, uuid))
                split[uuid] -= take
                need -= take
    return sorted(moves, key=_MOVE_ORDER)


# Move's own order, as a C-level key: much faster on 10,000s of moves.
_MOVE_ORDER = operator.attrgetter('consumer', 'resource_class', 'amount',
                                  'source', 'target')


def _final(records: Mapping[str, ConsumerRecord], moves: list[Move]
           ) -> Final:
    final: Final = {}
    for move in moves:
        if move.consumer not in final:
            final[move.consumer] = {
                rp: dict(res) for rp, res in
                records[move.consumer].allocations.items()}
        allocs = final[move.consumer]
        if move.source:  # a heal adds what was never held
            allocs[move.source][move.resource_class] -= move.amount
        target = allocs.setdefault(move.target, {})
        target[move.resource_class] = (
            target.get(move.resource_class, 0) + move.amount)
    for allocs in final.values():
        for rp in list(allocs):
            allocs[rp] = {rc: n for rc, n in allocs[rp].items() if n}
            if not allocs[rp]:
                del allocs[rp]
    return final


def _verify(target: Target, records: Mapping[str, ConsumerRecord],
            final: Final, displaced: list[Displaced]) -> None:
    """The plan is valid: a last check of capacity and units, so that an
    invalid plan is never returned whatever the search did."""
    after = {**records}
    after.update({c: ConsumerRecord(c, a) for c, a in final.items()})
    usage = staying_usage(target, after.values())
    # As Placement does: a provider over capacity is fine when the plan
    # leaves it no fuller than it was (a reserved one-time-use device).
    before = staying_usage(target, records.values())
    providers = target.after.providers
    bad: set[tuple[str, str]] = set()
    for allocs in final.values():
        for uuid, resources in allocs.items():
            if uuid not in providers:
                continue
            inventory = providers[uuid].inventory
            bad.update((uuid, rc) for rc, n in resources.items()
                       if rc in inventory and not inventory[rc].admits(n))
    for uuid in {rp for allocs in final.values() for rp in allocs}:
        for rc, used in usage.get(uuid, {}).items():
            if (used > providers[uuid].inventory[rc].capacity
                    and used > before[uuid].get(rc, 0)):
                bad.add((uuid, rc))
    if bad:
        uuid, rc = min(bad)
        provider = providers[uuid]
        raise exception.CannotPivot(
            node=target.node, unplaced=tuple(sorted(final)),
            **_moving(displaced),
            reason=f'no valid placement found for {rc} on '
                   f'{provider.name} ({usage[uuid].get(rc, 0)} of '
                   f'{shown(provider.inventory[rc].capacity)})')


SHOWN = 3
"""Consumers an error message names; the exception carries them all."""


def _cannot_pivot(target: Target, items: list[packing.Item],
                  result: packing.Result, displaced: list[Displaced]
                  ) -> exception.CannotPivot:
    unfit = tuple(_unfit(target, items[i], result) for i in result.unplaced)
    unplaced = tuple(sorted({u.consumer for u in unfit}))
    lines = [_unfit_line(u) for u in unfit]
    shown = '; '.join(lines[:SHOWN])
    if len(lines) > SHOWN:
        shown += f'; and {len(lines) - SHOWN} more'
    reason = (f'{len(unplaced)} consumer(s) do not fit the target '
              f'providers: {shown}')
    if result.exhausted:
        reason += ('. The search gave up before proving that no placement '
                   'exists; hints can place these consumers')
    return exception.CannotPivot(node=target.node, unplaced=unplaced,
                                 unfit=unfit, reason=reason,
                                 **_moving(displaced))


def _unfit(target: Target, item: packing.Item,
           result: packing.Result) -> exception.Unfit:
    return exception.Unfit(
        consumer=item.consumer, needs=dict(item.demand),
        free={target.name(b): {rc: shown(result.room[b].get(rc, 0))
                               for rc, _ in item.demand}
              for b in item.bins})


def _unfit_line(unfit: exception.Unfit) -> str:
    needs = ' '.join(f'{rc}={n}' for rc, n in unfit.needs.items())
    if unfit.free:
        free = '; '.join(f'{name} ' + ' '.join(
            f'{rc}={n}' for rc, n in room.items())
            for name, room in unfit.free.items())
    else:
        free = 'no candidate provider admits this amount ' \
               '(min_unit, max_unit or step_size)'
    return f'consumer {unfit.consumer} needs {needs} (free: {free})'


def _moving(displaced: list[Displaced]) -> dict[str, Any]:
    """What the pivot would move: for a CannotPivot to report."""
    moving: dict[str, int] = {}
    for d in displaced:
        moving[d.resource_class] = moving.get(d.resource_class, 0) + d.amount
    return {'consumers': len({d.consumer for d in displaced}),
            'moving': moving}
