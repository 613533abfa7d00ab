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

"""What an audit finds on one node, judged without I/O.

A consumer that holds allocations anywhere in the node's tree is in order
when nova has it as a live instance of the node or as part of a move in
progress that involves the node.  Any other is a finding, with nova's word
on it (:class:`State`).  Only what nested_pivot owns may be removed from
it: the root and the children nested_pivot created; every other provider
of the tree (neutron's, nova's PCI providers, Cyborg's, children nova's
own code made) is foreign, and so is everything outside the tree.
"""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Mapping
import dataclasses

from nested_pivot import compat
from nested_pivot.novadb.consumers import Instance
from nested_pivot.novadb.consumers import Known
from nested_pivot.novadb.consumers import Migration
from nested_pivot.novadb.consumers import NodeConsumers

Held = Mapping[str, Mapping[str, int]]
"""A consumer's amounts per class, by provider uuid."""


class State(compat.StrEnum):
    """What nova says of a consumer that holds allocations on a node it
    does not belong to."""

    DELETED = 'deleted'
    """nova has deleted its instance (the instance's, or its
    migration's): a delete that did not reach Placement, or that a reshape
    undid."""
    UNKNOWN = 'unknown'
    """nova has no instance, migration or build request of it."""
    ELSEWHERE = 'elsewhere'
    """Its instance lives on another node, or on none (shelved)."""
    STALE_MIGRATION = 'stale_migration'
    """A migration that nova no longer has in progress on this node."""
    BUSY = 'busy'
    """Its instance is in a task (building, unshelving, moving) or hidden
    by a cross-cell move: nova may still need the allocations."""


@dataclasses.dataclass(frozen=True)
class Finding:
    """One consumer that should not hold allocations on the node.

    ``held`` is what it holds on the node's tree; ``removable`` the
    providers of it that ``--fix`` clears (the root and nested_pivot's
    children); ``generation`` the consumer generation it was read at.
    ``fixable`` is False, with ``why_not``, for a consumer ``--fix``
    leaves alone.
    """

    consumer: str
    state: State
    said: str
    held: Held
    generation: int | None
    removable: frozenset[str]
    fixable: bool
    why_not: str = ''


@dataclasses.dataclass(frozen=True)
class Stray:
    """An amount held on a provider that has no inventory of its class."""

    provider: str
    consumer: str
    resource_class: str
    amount: int


def candidates(held: Mapping[str, Held], nova: NodeConsumers
               ) -> list[str]:
    """The consumers holding allocations on the node that nova does not
    have as its own, in uuid order."""
    mine = nova.protected
    return sorted(c for c, where in held.items()
                  if c not in mine and any(any(r.values())
                                           for r in where.values()))


def judge(consumer: str, known: Known, node: NodeConsumers
          ) -> tuple[State, str]:
    """nova's word on one candidate: its state and one line saying why."""
    migration = known.migration
    instance = known.instance
    if migration is not None:
        return _migration_state(migration, instance)
    if instance is not None:
        return _instance_state(instance, node)
    if known.building:
        return State.BUSY, ('nova\'s API database has it (a build '
                            'request or an instance mapping), its cell '
                            'does not yet: an instance being booted')
    where = ('any cell or nova\'s API database' if known.api
             else 'the cell database read')
    return State.UNKNOWN, f'no instance or migration {consumer} in {where}'


def _instance_state(instance: Instance, node: NodeConsumers
                    ) -> tuple[State, str]:
    if instance.deleted:
        if instance.hidden:
            return State.BUSY, ('instance deleted and hidden: a cross-cell '
                                'move, which cleans its own allocations')
        return State.DELETED, 'instance deleted'
    if instance.hidden:
        return State.BUSY, ('instance hidden by a cross-cell move, which '
                            'cleans its own allocations')
    if instance.task_state:
        return State.BUSY, (f'instance in task {instance.task_state} '
                            f'(vm_state {instance.vm_state}) on '
                            f'{_place(instance.host, instance.node)}')
    if instance.node == node.name and instance.host == node.host:
        # Not among the node's instances a moment ago, live there now.
        return State.BUSY, 'instance just arrived on this node'
    return State.ELSEWHERE, (f'instance {instance.vm_state} on '
                             f'{_place(instance.host, instance.node)}')


def _migration_state(migration: Migration, instance: Instance | None
                     ) -> tuple[State, str]:
    move = (f'{migration.kind or "migration"} {migration.status} from '
            f'{migration.source_node} to {migration.dest_node} of instance '
            f'{migration.instance}')
    if instance is None:
        return State.STALE_MIGRATION, f'{move}, which nova does not have'
    if instance.deleted and not instance.hidden:
        return State.DELETED, f'{move}, deleted'
    if instance.hidden:
        return State.BUSY, f'{move}, hidden by a cross-cell move'
    if instance.task_state:
        return State.BUSY, f'{move}, in task {instance.task_state}'
    return State.STALE_MIGRATION, f'{move}: not in progress on this node'


def _place(host: str | None, node: str | None) -> str:
    if not host:
        return 'no host'
    return f'host {host} node {node}' if node and node != host \
        else f'host {host}'


def finding(consumer: str, held: Held, generation: int | None,
            known: Known, node: NodeConsumers, owned: Collection[str], *,
            unknown_fixable: bool) -> Finding:
    """The finding of one candidate.

    ``owned``: the providers ``--fix`` may clear (the root and the
    children nested_pivot created).  ``unknown_fixable``: an unknown
    consumer may be removed (offline, where nothing boots; or online with
    nova's API database read, which shows the instances being booted).
    """
    state, said = judge(consumer, known, node)
    removable = frozenset(p for p, r in held.items()
                          if p in owned and any(r.values()))
    why_not = _why_not(state, removable, unknown_fixable)
    return Finding(consumer, state, said, held, generation, removable,
                   not why_not, why_not)


def _why_not(state: State, removable: frozenset[str],
             unknown_fixable: bool) -> str:
    if state is State.BUSY:
        return 'nova may still need its allocations'
    if state is State.UNKNOWN and not unknown_fixable:
        return ('online without nova\'s API database (--all-cells), an '
                'instance being booted looks the same: rerun with '
                '--all-cells, or offline')
    if not removable:
        return ('it holds allocations only on providers nested_pivot does '
                'not own')
    return ''


def strays(inventories: Mapping[str, Collection[str]],
           held: Mapping[str, Held]) -> list[Stray]:
    """Every amount held on a provider of ``inventories`` (uuid -> the
    classes it has inventory of) that is not among its classes."""
    found = []
    for consumer, where in sorted(held.items()):
        for provider, resources in sorted(where.items()):
            offered = inventories.get(provider)
            if offered is None:
                continue
            found += [Stray(provider, consumer, rc, n)
                      for rc, n in sorted(resources.items())
                      if n and rc not in offered]
    return found


@dataclasses.dataclass(frozen=True)
class NodeAudit:
    """One node's audit: what it found, and the names of its tree's
    providers (by uuid).  ``skipped`` says why a node was not audited
    (nova has no compute node of that name)."""

    node: str
    uuid: str
    findings: tuple[Finding, ...] = ()
    strays: tuple[Stray, ...] = ()
    names: Mapping[str, str] = dataclasses.field(default_factory=dict)
    skipped: str = ''

    @property
    def clean(self) -> bool:
        return not (self.findings or self.strays or self.skipped)


class Fixed(compat.StrEnum):
    """What ``--fix`` did with one finding."""

    REMOVED = 'removed'
    GONE = 'gone'
    """Its allocations were gone when it was read again."""
    LEFT = 'left alone'
    FAILED = 'failed'


@dataclasses.dataclass(frozen=True)
class FixOutcome:
    """One finding after ``--fix``: what was removed (by provider uuid)
    and what it kept elsewhere."""

    consumer: str
    result: Fixed
    detail: str = ''
    removed: Held = dataclasses.field(default_factory=dict)
    kept: Held = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Leak:
    """A consumer a pivot rewrote whose instance nova has deleted since,
    and that still holds allocations on the node: if nova's delete raced
    the reshape, the reshape brought them back."""

    consumer: str
    said: str
    held: Held
