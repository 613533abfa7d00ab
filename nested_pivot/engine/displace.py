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

"""Find the allocations that must leave their provider, and where they may
go."""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses

from nested_pivot import exception
from nested_pivot import names
from nested_pivot.engine.allocations import ConsumerRecord
from nested_pivot.engine.target import Target


@dataclasses.dataclass(frozen=True)
class Displaced:
    """``amount`` of ``resource_class`` that ``consumer`` holds on
    ``source``, which will not offer it; ``candidates`` may take it, in
    order of preference (none: a device's allocation that only a hint can
    place).  A heal (an amount the consumer never held) has ``source``
    ``''``."""

    consumer: str
    resource_class: str
    amount: int
    source: str
    candidates: tuple[str, ...]


def find_displaced(target: Target, records: Mapping[str, ConsumerRecord],
                   managed: frozenset[str] | None = None) -> list[Displaced]:
    """Every displaced allocation, in a deterministic order.

    Allocations on providers outside the node's tree stay as they are, and
    so do allocations of a class outside ``managed`` (the layout's) on a
    provider that does not offer it before the plan either: the tree lags
    Placement there (nova's cached tree), and the layout takes nothing
    away from them.
    """
    result = []
    known: dict[tuple[str, str], tuple[str, ...]] = {}
    for consumer in sorted(records):
        record = records[consumer]
        for source, resources in sorted(record.allocations.items()):
            if source not in target.before.providers:
                continue
            for rc, amount in sorted(resources.items()):
                if not amount or _stays(target, source, rc) or _lagging(
                        target, source, rc, managed):
                    continue
                if (source, rc) not in known:
                    known[(source, rc)] = candidates(target, source, rc,
                                                     record)
                result.append(Displaced(consumer, rc, amount, source,
                                        known[(source, rc)]))
    return result


def _stays(target: Target, source: str, rc: str) -> bool:
    return source in target.after.providers and target.after.offers(
        source, rc)


def _lagging(target: Target, source: str, rc: str,
             managed: frozenset[str] | None) -> bool:
    return (managed is not None and rc not in managed
            and not target.before.offers(source, rc))


def candidates(target: Target, source: str, rc: str,
               record: ConsumerRecord) -> tuple[str, ...]:
    """Providers that may take ``rc`` leaving ``source``.

    The source's descendants first, then its ancestors, so a pivot moves
    allocations down the tree and the flat layout moves them back up.  A
    removed source is seen from its nearest remaining ancestor, which may
    take the allocation itself.  A host class (VCPU, MEMORY_MB, ...) may
    then go anywhere else in the tree (a layout change may move a cell); a
    device's class never leaves its own branch: an allocation never
    changes device on its own, only a hint moves it there.  A foreign
    provider (another service's) never takes one, but for the sharing
    provider the layout sends the class to.  A provider the tree could not
    rename hands its allocations to its successor.
    """
    if rc in target.sharing:
        return (target.sharing[rc],)
    after = target.after
    successor = target.successors.get(source)
    if successor is not None and after.offers(successor, rc):
        return (successor,)  # the same device, under its new name
    if source == after.root and rc in target.destinations:
        return (target.destinations[rc],)
    anchor = source
    own: list[str] = []
    while anchor not in after.providers:
        anchor = target.before.providers[anchor].parent or after.root
        own = [anchor]
    device = source != after.root and names.is_device_class(rc)
    below = [u for u in after.descendants(anchor)
             if not device or anchor == source
             or (u in target.before.providers
                 and source in target.before.ancestors(u))]
    # Elsewhere in the tree last: a layout change may move a cell.
    anywhere = [] if device else after.descendants(after.root)
    for group in (own, below, after.ancestors(anchor), anywhere):
        found = tuple(u for u in group if after.offers(u, rc)
                      and u not in target.foreign)
        if found:
            return found
    if device:
        return ()  # only a hint can place it: see stranded()
    raise exception.NoTargetProvider(
        node=target.node, consumer=record.consumer, resource_class=rc,
        amount=record.amount(source, rc), source=target.name(source))


def stranded(target: Target, item: Displaced) -> exception.CannotPivot:
    """The error for a device's allocation no provider of its branch takes
    and no hint places."""
    return exception.DeviceAllocationStranded(
        node=target.node, consumer=item.consumer,
        resource_class=item.resource_class, amount=item.amount,
        source=target.name(item.source), unplaced=(item.consumer,))


def heal_candidates(target: Target, rc: str,
                    record: ConsumerRecord) -> tuple[str, ...]:
    """Providers that may take a healed amount of ``rc``: the layout's
    children first, then the root."""
    if rc in target.sharing:
        return (target.sharing[rc],)
    after = target.after
    found = tuple(u for u in (*after.descendants(after.root), after.root)
                  if after.offers(u, rc) and u not in target.foreign)
    if not found:
        raise exception.InvalidHint(
            consumer=record.consumer,
            reason=f'heal {rc}: no provider of node {target.node} offers '
                   f'{rc}')
    return found
