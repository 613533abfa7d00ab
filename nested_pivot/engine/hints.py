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

"""Driver hints: where the hypervisor says a consumer's resources are.

Accepted forms, a child being named by short name, full name or uuid::

    {consumer: child}                     # every moved class to child
    {consumer: {rc: child}}               # one class to child
    {consumer: {rc: {child: amount}}}     # one class split across children

For a class the layout heals, a split may give more than the consumer
holds on the node: its amounts are then what the consumer holds after the
pivot, and the surplus is healed there (:func:`top_ups`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nested_pivot import exception
from nested_pivot.engine.allocations import ConsumerRecord
from nested_pivot.engine.displace import Displaced
from nested_pivot.engine.target import Target

Placed = dict[str, dict[str, dict[str, int]]]
"""consumer -> class -> target provider -> amount: where moving amounts
go (a hint's, or the packer's)."""


def resolve(hints: Mapping[str, Any] | None, target: Target,
            records: Mapping[str, ConsumerRecord],
            displaced: list[Displaced]) -> Placed:
    """Validate hints and return the placements they fix.

    Hints for consumers or classes that have nothing to move (already
    pivoted) are checked but fix nothing, so a rerun stays a no-op.  A hint
    for a consumer with no allocations on the node is refused: it names
    the wrong instance or the wrong node.
    """
    if hints is None:
        return {}
    if not isinstance(hints, Mapping):
        raise exception.InvalidHint(consumer='*',
                                    reason='hints must be a mapping')
    moving: dict[str, dict[str, int]] = {}
    for d in displaced:
        per_rc = moving.setdefault(d.consumer, {})
        per_rc[d.resource_class] = per_rc.get(d.resource_class, 0) + d.amount
    result: Placed = {}
    for consumer, hint in hints.items():
        record = records.get(consumer)
        if record is None or not record.resource_classes(
                target.before.providers):
            raise exception.InvalidHint(
                consumer=consumer,
                reason=f'the consumer has no allocations on node '
                       f'{target.node}')
        fixed = _resolve_one(target, record, hint, moving.get(consumer, {}))
        if fixed:
            result[consumer] = fixed
    return result


def _resolve_one(target: Target, record: ConsumerRecord, hint: Any,
                 moving: dict[str, int]) -> dict[str, dict[str, int]]:
    if isinstance(hint, str):
        return _whole(target, record, hint, moving)
    if not isinstance(hint, Mapping):
        raise exception.InvalidHint(
            consumer=record.consumer,
            reason=f'expected a child or a mapping, not {hint!r}')
    held = record.resource_classes(target.before.providers)
    result = {}
    for rc, where in hint.items():
        if rc not in held:
            raise exception.InvalidHint(
                consumer=record.consumer,
                reason=f'the consumer holds no {rc} on node {target.node}')
        split = _split(target, record, rc, where)
        if rc in moving:
            _check_total(record, rc, split, moving[rc])
            result[rc] = split
    return result


def _whole(target: Target, record: ConsumerRecord, ref: str,
           moving: dict[str, int]) -> dict[str, dict[str, int]]:
    found = child(target, record, ref)
    offered = set(target.after.providers[found].inventory)
    held = record.resource_classes(target.before.providers)
    if not offered & held:
        raise exception.InvalidHint(
            consumer=record.consumer,
            reason=f'{target.name(found)} offers none of the classes the '
                   f'consumer holds ({", ".join(sorted(held)) or "none"})')
    return {rc: {found: amount} for rc, amount in moving.items()
            if rc in offered}


def _split(target: Target, record: ConsumerRecord, rc: str,
           where: Any) -> dict[str, int]:
    if isinstance(where, str):
        where = {where: None}
    if not isinstance(where, Mapping) or not where:
        raise exception.InvalidHint(
            consumer=record.consumer,
            reason=f'{rc}: expected a child or {{child: amount}}')
    split: dict[str, int] = {}
    for ref, amount in where.items():
        found = child(target, record, ref)
        if rc not in target.after.providers[found].inventory:
            raise exception.InvalidHint(
                consumer=record.consumer,
                reason=f'{target.name(found)} offers no {rc}')
        if amount is not None and (not isinstance(amount, int)
                                   or isinstance(amount, bool)
                                   or amount < 1):
            raise exception.InvalidHint(
                consumer=record.consumer,
                reason=f'{rc} on {target.name(found)}: amount must be a '
                       f'positive integer, not {amount!r}')
        split[found] = split.get(found, 0) + (amount or 0)
    return split


def _check_total(record: ConsumerRecord, rc: str, split: dict[str, int],
                 moving: int) -> None:
    if len(split) == 1 and not any(split.values()):
        split[next(iter(split))] = moving
        return
    total = sum(split.values())
    if total != moving:
        raise exception.InvalidHint(
            consumer=record.consumer,
            reason=f'{rc} amounts add up to {total}, but the consumer '
                   f'moves {moving}')


def child(target: Target, record: ConsumerRecord, ref: Any) -> str:
    """The uuid of the provider a hint names: short name, full name or
    uuid, in the target tree and not another service's."""
    found = _find(target, ref)
    if found in target.foreign:
        raise exception.InvalidHint(
            consumer=record.consumer,
            reason=f'{target.name(found)} belongs to another service, not '
                   f'to the layout of node {target.node}')
    if found is not None:
        return found
    raise exception.InvalidHint(
        consumer=record.consumer,
        reason=f'no provider {ref!r} in the target tree of node '
               f'{target.node}')


def _find(target: Target, ref: Any) -> str | None:
    after = target.after
    if not isinstance(ref, str):
        return None
    if ref in after.providers:
        return ref
    for name in (ref, f'{target.node}_{ref}'):
        for uuid, provider in after.providers.items():
            if provider.name == name:
                return uuid
    return None


def top_ups(hints: Mapping[str, Any] | None, target: Target,
            records: Mapping[str, ConsumerRecord],
            displaced: list[Displaced], heals: frozenset[str]
            ) -> tuple[dict[str, Any] | None, list[Displaced]]:
    """The hints with every split that asks for more than the consumer
    holds turned into what it moves and what is healed, and the heals
    (source ``''``) to place with the moves.

    Only classes the layout heals (``heals``) may be topped up: an
    instance whose emulator thread nova's scheduler counts today but
    Train's reshape did not holds one PCPU too few.  A consumer holding
    its amounts already (a rerun) is left as it is.
    """
    if not hints or not heals or not isinstance(hints, Mapping):
        return (dict(hints) if isinstance(hints, Mapping) else hints), []
    result = dict(hints)
    items: list[Displaced] = []
    for consumer, hint in hints.items():
        record = records.get(consumer)
        if record is None or not isinstance(hint, Mapping):
            continue  # resolve() says what is wrong
        changed = dict(hint)
        for rc, where in hint.items():
            if rc in heals and _amounts(where):
                found = _top_up(target, record, rc, where, displaced)
                if found is not None:
                    changed[rc], heal = found
                    items += heal
        result[consumer] = changed
    return result, items


def _amounts(where: Any) -> bool:
    return isinstance(where, Mapping) and bool(where) and all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 1
        for n in where.values())


def _top_up(target: Target, record: ConsumerRecord, rc: str,
            where: Mapping[str, int], displaced: list[Displaced]
            ) -> tuple[dict[str, int], list[Displaced]] | None:
    wanted: dict[str, int] = {}
    for ref, amount in where.items():
        found = child(target, record, ref)
        wanted[found] = wanted.get(found, 0) + amount
    own = [u for u in target.before.providers if u not in target.foreign]
    held = sum(record.amount(u, rc) for u in own)
    if sum(wanted.values()) <= held:
        return None  # a split of what moves, or a rerun
    moving = sum(d.amount for d in displaced
                 if (d.consumer, d.resource_class) == (record.consumer, rc))
    staying = {u: record.amount(u, rc) for u in own}
    for d in displaced:
        if (d.consumer, d.resource_class) == (record.consumer, rc) \
                and d.source in staying:
            staying[d.source] -= d.amount
    # Order matters: what stays counts first, then what moves, and only
    # the rest is healed, on the children the hint names.
    need = {u: n - staying.get(u, 0) for u, n in wanted.items()}
    elsewhere = sum(n for u, n in staying.items() if u not in wanted)
    if elsewhere or any(n < 0 for n in need.values()):
        raise exception.InvalidHint(
            consumer=record.consumer,
            reason=f'{rc}: the hint asks for {_shown(target, wanted)} '
                   f'after the pivot, but the consumer keeps '
                   f'{_shown(target, staying)} where it is')
    heal: list[Displaced] = []
    left = moving
    for uuid in sorted(need):
        taken = min(left, need[uuid])
        left -= taken
        if need[uuid] > taken:
            heal.append(Displaced(record.consumer, rc, need[uuid] - taken,
                                  '', (uuid,)))
    return {u: n for u, n in need.items() if n}, heal


def _shown(target: Target, split: Mapping[str, int]) -> str:
    return ', '.join(f'{target.name(u)}: {n}' for u, n in sorted(
        split.items()) if n) or 'none'
