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

"""After a reshape: the consumers it rewrote whose instance nova has
deleted meanwhile, and that still hold allocations on the node.

nova's ordinary delete sends a bare ``DELETE /allocations/{c}`` (unless
``[DEFAULT] reclaim_instance_interval > 0``).  Racing the reshape that
rewrites ``c``, it can answer 204 while the reshape puts the allocations
back.  This says so; it removes nothing (``nested-pivot audit --fix``
does, guarded).  It may also name an instance whose delete has not
reached Placement yet: the audit, run later, tells the two apart.

:func:`for_client` serves ``nested-pivot apply --from-nova``;
:func:`in_nova_compute` the nova-compute hook, through nova's own objects
and report client.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Mapping
from typing import Any

from nested_pivot import engine
from nested_pivot import microversion
from nested_pivot.audit.model import Leak
from nested_pivot.novadb.consumers import Known
from nested_pivot.novadb.consumers import NovaConsumers
from nested_pivot.placement.http import PlacementClient

AllocationsOf = Callable[[str], Mapping[str, Any]]
"""``GET /allocations/{c}``'s body."""


def deleted_but_held(node: str, consumers: Collection[str],
                     providers: Collection[str], nova: NovaConsumers,
                     allocations_of: AllocationsOf) -> tuple[Leak, ...]:
    """Of ``consumers``, those whose instance nova has deleted and that
    hold allocations on any of ``providers``, in uuid order.  The node's
    live instances and moves are read at once; only the others are
    looked up one by one."""
    # Order matters: nova first, then Placement.  nova marks an instance
    # deleted before it sends the DELETE: reading Placement last gives
    # that DELETE the most time to land.
    found = nova.node(node)
    mine = found.protected if found is not None else frozenset()
    known = nova.look_up([c for c in consumers if c not in mine])
    leaks = []
    for consumer in sorted(known):
        said = _deleted(known[consumer])
        if not said:
            continue
        body = allocations_of(consumer)
        held = {p: dict(e['resources'])
                for p, e in (body.get('allocations') or {}).items()
                if p in providers and e.get('resources')}
        if held:
            leaks.append(Leak(consumer, said, held))
    return tuple(leaks)


def _deleted(known: Known) -> str:
    instance = known.instance
    if instance is None or not instance.deleted or instance.hidden:
        return ''
    if known.migration is not None:
        return (f'migration of instance {instance.uuid}, which nova has '
                'deleted')
    return 'instance deleted in nova'


def for_client(client: PlacementClient, nova: NovaConsumers
               ) -> Callable[[engine.ReshapePlan], tuple[Leak, ...]]:
    """The check of a plan just applied through ``client``."""
    def allocations_of(consumer: str) -> Mapping[str, Any]:
        body: Mapping[str, Any] = client.get(
            f'/allocations/{consumer}',
            microversion.PROVIDER_ALLOCATIONS_GENERATIONS)
        return body

    def check(plan: engine.ReshapePlan) -> tuple[Leak, ...]:
        providers = set(plan.before.providers) | set(plan.after.providers)
        return deleted_but_held(plan.node, tuple(plan.allocations),
                                providers, nova, allocations_of)

    return check


def in_nova_compute(nodename: str, consumers: Collection[str],
                    providers: Collection[str], *, context: Any = None,
                    report_client: Any = None) -> tuple[Leak, ...]:
    """The check inside nova-compute, once nova has sent the reshape: on
    the next ``update_provider_tree`` call for ``nodename``, with the
    consumers the reshape rewrote and the node's provider uuids.  Reads
    nova's own database with its objects (``context``: an admin context
    by default) and Placement with nova's report client (its singleton by
    default)."""
    from nova import context as nova_context

    ctx = context if context is not None \
        else nova_context.get_admin_context()
    if report_client is None:
        from nova.scheduler.client import report

        report_client = report.report_client_singleton()
    nova = NovaConsumers.in_process(ctx)

    def allocations_of(consumer: str) -> Mapping[str, Any]:
        body: Mapping[str, Any] = report_client.get_allocs_for_consumer(
            ctx, consumer)
        return body

    return deleted_but_held(nodename, consumers, providers, nova,
                            allocations_of)


def warning(node: str, leaks: Collection[Leak]) -> str:
    """One message about ``leaks``, for a log or a terminal."""
    listed = '; '.join(
        f'{leak.consumer} ({leak.said})' for leak in
        sorted(leaks, key=lambda leak: leak.consumer))
    return (f'Node {node}: {len(leaks)} consumer(s) the pivot rewrote '
            f'still hold allocations although nova has deleted their '
            f'instance: {listed}. If nova\'s delete raced the reshape, the '
            f'reshape brought them back (a leak). Check and remove them '
            f'with: nested-pivot audit {node} --fix')
