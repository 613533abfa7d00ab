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

"""Assemble the :class:`ReshapePlan` from what the engine decided."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
import dataclasses

from nested_pivot.engine.allocations import ConsumerRecord
from nested_pivot.engine.facts import Conversion
from nested_pivot.engine.result import BelowUsage
from nested_pivot.engine.result import Correction
from nested_pivot.engine.result import Heal
from nested_pivot.engine.result import Move
from nested_pivot.engine.result import ProviderInventory
from nested_pivot.engine.result import ReshapePlan
from nested_pivot.engine.solve import Final
from nested_pivot.engine.target import Target
from nested_pivot.engine.target import TraitChange


def build(target: Target, records: Mapping[str, ConsumerRecord],
          converted: Mapping[str, ConsumerRecord], moves: list[Move],
          final: Final, conversions: list[Conversion],
          below: Sequence[BelowUsage] = (),
          corrections: Sequence[Correction] = ()) -> ReshapePlan:
    """The plan: ``records`` as given (for each consumer's identity),
    ``converted`` after the conversions, ``moves`` with heals among them
    (their source is ``''``)."""
    moves = _with_conversions(moves, conversions)
    changed = ({c.consumer for c in conversions}
               | {c.consumer for c in corrections})
    final = {**{c: _pruned(converted[c]) for c in sorted(changed)},
             **final}
    return ReshapePlan(
        node=target.node, root=target.after.root,
        moves=tuple(m for m in moves if m.source),
        allocations={c: _final_record(records[c], a)
                     for c, a in sorted(final.items())},
        inventories=_inventories(target, moves),
        created=tuple(target.after.providers[u] for u in target.created),
        removed=target.removed,
        traits=_trait_changes(target),
        before=target.before, after=target.after, foreign=target.foreign,
        heals=tuple(Heal(m.consumer, m.resource_class, m.amount, m.target)
                    for m in moves if not m.source),
        reparented={u: str(target.after.providers[u].parent)
                    for u in target.reparented},
        below_usage=tuple(below), corrections=tuple(sorted(corrections)),
        renamed={u: target.after.providers[u].name for u in target.renamed})


def _with_conversions(moves: list[Move], conversions: list[Conversion]
                      ) -> list[Move]:
    """Each conversion marks the moves of its new class from its
    provider; one that moves nowhere is a move onto the same provider."""
    result = list(moves)
    for c in conversions:
        found = [i for i, m in enumerate(result)
                 if (m.consumer, m.resource_class, m.source)
                 == (c.consumer, c.resource_class, c.provider)]
        for i in found:
            result[i] = dataclasses.replace(result[i],
                                            converted_from=c.source_class)
        if not found:
            result.append(Move(c.consumer, c.resource_class, c.amount,
                               c.provider, c.provider, c.source_class))
    return sorted(result, key=lambda m: (m.consumer, m.resource_class,
                                         m.source, m.target))


def _pruned(record: ConsumerRecord) -> dict[str, dict[str, int]]:
    return {rp: {rc: n for rc, n in res.items() if n}
            for rp, res in record.allocations.items() if any(res.values())}


def _inventories(target: Target, moves: list[Move]
                 ) -> dict[str, ProviderInventory]:
    # A sharing provider (foreign) is never listed: its inventory is not
    # the node's, and listing it would race every other host using it.
    touched = {m.source for m in moves} | {m.target for m in moves}
    listed = [u for u in (*target.after.providers, *target.removed)
              if u not in target.foreign
              and (u in touched or target.inventory_changed(u))]
    inventories = {}
    for uuid in listed:
        provider = (target.after.providers.get(uuid)
                    or target.before.providers[uuid])
        inventory = (provider.inventory if uuid in target.after.providers
                     else {})
        inventories[uuid] = ProviderInventory(
            uuid, provider.name, provider.generation, inventory)
    return inventories


def _trait_changes(target: Target) -> dict[str, TraitChange]:
    changes = {u: target.trait_change(u) for u in target.after.providers
               if u not in target.foreign}
    return {u: change for u, change in changes.items() if change}


def _final_record(record: ConsumerRecord,
                  final: dict[str, dict[str, int]]) -> ConsumerRecord:
    return ConsumerRecord(
        record.consumer, final, record.project_id, record.user_id,
        record.consumer_generation, record.consumer_type)
