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

"""Facts the driver states about its consumers, beyond where they are:
class conversions and heals.

Hint forms, next to the placement forms of :mod:`hints`::

    {consumer: {'convert': {'VCPU': 'PCPU'}}}   # its VCPU becomes PCPU
    {consumer: {'heal': {'SRIOV_NET_VF': 1}}}   # it uses a VF, never held
    {consumer: {'heal': {'SRIOV_NET_VF': {'pf0': 1}}}}   # ... on pf0
    {consumer: {'correct': {'CUSTOM_PCI_X': {'0000:81:00.0': 2}}}}
                                                # holds exactly 2 there

A conversion renames what the consumer holds on the node's providers,
amount for amount, before anything is placed: the new class stays where it
is when that provider offers it, and moves like any other class when it
does not.  A heal adds allocations, placed like moving ones.  A
correction says how much of a class the consumer holds on one provider of
the target (that keeps offering the class): the missing part is added
there, as a heal, and an excess is removed (nova's PCI translator heals
allocations so at every update).  All three are facts: a rerun finds them
done and changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
from typing import Any

from nested_pivot import exception
from nested_pivot import hint
from nested_pivot.engine.allocations import ConsumerRecord
from nested_pivot.engine.displace import Displaced
from nested_pivot.engine.displace import heal_candidates
from nested_pivot.engine.hints import child
from nested_pivot.engine.result import Correction
from nested_pivot.engine.target import Target


@dataclasses.dataclass(frozen=True)
class Conversion:
    """``amount`` of ``source_class`` that ``consumer`` holds on
    ``provider`` becomes ``resource_class``."""

    consumer: str
    provider: str
    source_class: str
    resource_class: str
    amount: int


@dataclasses.dataclass(frozen=True)
class SplitHints:
    """The hints split by kind: placements (for :mod:`hints`),
    conversions and heals, by consumer."""

    placements: dict[str, Any]
    converts: dict[str, dict[str, str]]
    heals: dict[str, dict[str, Any]]
    corrects: dict[str, dict[str, dict[str, int]]] = dataclasses.field(
        default_factory=dict)


def split(hints: hint.HintsLike | None) -> SplitHints:
    """The hints, typed or in the dict form (:mod:`nested_pivot.hint`
    parses both, and checks their form), by kind: placements in the dict
    form, conversions, heals and corrections."""
    facts = SplitHints({}, {}, {})
    for consumer, typed in hint.parse(hints).items():
        grouped = hint.group(consumer, typed)
        if grouped.placement is not None:
            facts.placements[consumer] = grouped.placement
        if grouped.converts:
            facts.converts[consumer] = grouped.converts
        if grouped.heals:
            facts.heals[consumer] = grouped.heals
        if grouped.corrects:
            facts.corrects[consumer] = grouped.corrects
    return facts


def check_declared(facts: SplitHints, converts: Mapping[str, str],
                   heals: frozenset[str]) -> None:
    """A layout declares what its hints may convert and heal: a hint that
    goes beyond names the wrong class or the wrong layout."""
    for consumer, mapping in sorted(facts.converts.items()):
        for source, new in sorted(mapping.items()):
            if converts.get(source) != new:
                raise exception.InvalidHint(
                    consumer=consumer,
                    reason=f'convert: the layout declares no conversion of '
                           f'{source} to {new} (its converts: '
                           f'{dict(converts) or "none"})')
    for form, stated in ((hint.HEAL, facts.heals),
                         (hint.CORRECT, facts.corrects)):
        for consumer, spec in sorted(stated.items()):
            undeclared = sorted(set(spec) - heals)
            if undeclared:
                raise exception.InvalidHint(
                    consumer=consumer,
                    reason=f'{form}: the layout heals no {undeclared[0]} '
                           f'(its heals: '
                           f'{", ".join(sorted(heals)) or "none"})')


def convert(records: Mapping[str, ConsumerRecord],
            converts: Mapping[str, Mapping[str, str]], target: Target
            ) -> tuple[dict[str, ConsumerRecord], list[Conversion]]:
    """The records with their conversions applied, and the conversions.

    Only the node's own providers (the root and the layout's children)
    are converted; a provider that already holds the new class for the
    consumer is left as it is, as nova's PCPU reshape does.
    """
    result = dict(records)
    done: list[Conversion] = []
    for consumer, mapping in sorted(converts.items()):
        record = _on_node(records, consumer, target)
        found = _conversions(record, mapping, target)
        if not found and not _converted(record, mapping, target):
            held = ', '.join(sorted(mapping))
            raise exception.InvalidHint(
                consumer=consumer,
                reason=f'convert: the consumer holds no {held} on node '
                       f'{target.node}')
        result[consumer] = _renamed(record, found)
        done.extend(found)
    return result, done


def _on_node(records: Mapping[str, ConsumerRecord], consumer: str,
             target: Target) -> ConsumerRecord:
    record = records.get(consumer)
    if record is None or not record.resource_classes(
            target.before.providers):
        raise exception.InvalidHint(
            consumer=consumer,
            reason=f'the consumer has no allocations on node {target.node}')
    return record


def _mine(target: Target, provider: str) -> bool:
    return (provider in target.before.providers
            and provider not in target.foreign)


def _conversions(record: ConsumerRecord, mapping: Mapping[str, str],
                 target: Target) -> list[Conversion]:
    found = []
    for provider, resources in sorted(record.allocations.items()):
        if not _mine(target, provider):
            continue
        for source, new in sorted(mapping.items()):
            amount = resources.get(source, 0)
            if amount and not resources.get(new):
                found.append(Conversion(record.consumer, provider, source,
                                        new, amount))
    return found


def _converted(record: ConsumerRecord, mapping: Mapping[str, str],
               target: Target) -> bool:
    """Does the consumer already hold the new classes (a rerun)?"""
    return any(record.amount(p, new)
               for p in record.allocations if _mine(target, p)
               for new in mapping.values())


def _renamed(record: ConsumerRecord, conversions: list[Conversion]
             ) -> ConsumerRecord:
    allocations = {rp: dict(res) for rp, res in record.allocations.items()}
    for c in conversions:
        held = allocations[c.provider]
        del held[c.source_class]
        held[c.resource_class] = c.amount
    return dataclasses.replace(record, allocations=allocations)


def heals(records: Mapping[str, ConsumerRecord],
          wanted: Mapping[str, Mapping[str, Any]], target: Target
          ) -> tuple[list[Displaced], dict[str, dict[str, dict[str, int]]]]:
    """The amounts to add, as items for the packer (source ``''``), and
    the ones a hint places itself (consumer -> class -> provider ->
    amount)."""
    items: list[Displaced] = []
    placed: dict[str, dict[str, dict[str, int]]] = {}
    for consumer, spec in sorted(wanted.items()):
        record = _on_node(records, consumer, target)
        for rc, value in sorted(spec.items()):
            split = _heal_split(target, record, rc, value)
            if split is None:
                continue  # healed already: a rerun
            if '' not in split:
                placed.setdefault(consumer, {})[rc] = split
            items.append(Displaced(consumer, rc, sum(split.values()), '',
                                   heal_candidates(target, rc, record)))
    return items, placed


def _heal_split(target: Target, record: ConsumerRecord, rc: str,
                value: Any) -> dict[str, int] | None:
    """Where the heal of ``rc`` goes ({'': amount} for the packer), or
    None when the consumer holds that amount already."""
    split = ({'': value} if _is_amount(value) else
             dict(value) if isinstance(value, Mapping) else None)
    if split is None or not all(_is_amount(n) for n in split.values()):
        raise exception.InvalidHint(
            consumer=record.consumer,
            reason=f'heal {rc}: amounts must be positive integers, not '
                   f'{value!r}')
    wanted = sum(split.values())
    held = sum(record.amount(p, rc) for p in record.allocations
               if _mine(target, p))
    if held == wanted:
        return None
    if held:
        raise exception.InvalidHint(
            consumer=record.consumer,
            reason=f'heal {rc}: the consumer holds {held} on node '
                   f'{target.node} already, not 0 or {wanted}')
    return {'' if ref == '' else child(target, record, ref): n
            for ref, n in split.items()}


def _is_amount(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) \
        and value >= 1


@dataclasses.dataclass(frozen=True)
class Corrected:
    """What the corrections do: the records with every excess removed,
    the missing parts as heal items for the packer and where they go, and
    the removals."""

    records: dict[str, ConsumerRecord]
    items: list[Displaced]
    placed: dict[str, dict[str, dict[str, int]]]
    removed: list[Correction]


def corrections(records: Mapping[str, ConsumerRecord],
                wanted: Mapping[str, Mapping[str, Mapping[str, int]]],
                target: Target) -> Corrected:
    """Bring each corrected consumer's amount on each named provider to
    what the hint says."""
    result = Corrected(dict(records), [], {}, [])
    for consumer, spec in sorted(wanted.items()):
        record = _on_node(records, consumer, target)
        allocations = {rp: dict(res) for rp, res in record.allocations.items()}
        for rc, split in sorted(spec.items()):
            for ref, amount in sorted(split.items()):
                uuid = _offering(target, record, rc, ref)
                held = allocations.get(uuid, {}).get(rc, 0)
                if amount > held:
                    result.items.append(Displaced(
                        consumer, rc, amount - held, '', (uuid,)))
                    split_of = result.placed.setdefault(
                        consumer, {}).setdefault(rc, {})
                    split_of[uuid] = split_of.get(uuid, 0) + amount - held
                elif amount < held:
                    allocations[uuid][rc] = amount
                    result.removed.append(
                        Correction(consumer, rc, held - amount, uuid))
        result.records[consumer] = dataclasses.replace(
            record, allocations={rp: {k: n for k, n in res.items() if n}
                                 for rp, res in allocations.items()
                                 if any(res.values())})
    return result


def _offering(target: Target, record: ConsumerRecord, rc: str,
              ref: str) -> str:
    uuid = child(target, record, ref)
    if not target.after.offers(uuid, rc):
        raise exception.InvalidHint(
            consumer=record.consumer,
            reason=f'correct {rc}: {target.name(uuid)} offers no {rc} in '
                   f'the target of node {target.node}')
    return uuid
