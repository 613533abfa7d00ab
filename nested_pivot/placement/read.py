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

"""Read one node from Placement into the engine's typed values.

The tree, each provider's inventory and traits, and each provider's
allocations (with consumer generations) cost a fixed number of requests per
provider.  Full consumer records (project, user, type, allocations on other
hosts and sharing providers) are read only for the consumers that move.

Offline, with Placement's database at hand (``client.database``), a node
is read whole, every consumer's full record included, in a few queries
(:mod:`nested_pivot.placement.database`): the same values, without a
request per consumer.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
import concurrent.futures
import dataclasses
from typing import Any
from typing import TYPE_CHECKING
from typing import TypeVar
import urllib.parse
import uuid as uuidlib

import os_traits
from oslo_log import log as logging

from nested_pivot import engine
from nested_pivot import exception
from nested_pivot import microversion
from nested_pivot import names
from nested_pivot.engine import model
from nested_pivot.engine.allocations import parse as parse_allocations
from nested_pivot.placement.http import backoff
from nested_pivot.placement.http import PlacementClient

if TYPE_CHECKING:
    from nested_pivot.placement.database import PlacementDatabase

LOG = logging.getLogger(__name__)
T = TypeVar('T')
R = TypeVar('R')

PROVIDERS = microversion.PROVIDERS
ALLOCATIONS = microversion.PROVIDER_ALLOCATIONS_GENERATIONS


@dataclasses.dataclass
class NodeRead:
    """A node as Placement holds it, as the engine takes it.

    ``records`` hold each consumer's allocations on this node's providers,
    until :func:`complete` replaces a consumer's with its whole record.
    """

    root: str
    name: str
    snapshot: engine.Snapshot
    records: dict[str, engine.ConsumerRecord]
    sharing: dict[str, engine.Provider] = dataclasses.field(
        default_factory=dict)
    """The sharing providers a layout names, by its name or uuid."""
    whole: bool = False
    """Every record is already the consumer's whole record."""
    aggregates: dict[str, frozenset[str]] = dataclasses.field(
        default_factory=dict)
    """Each provider's aggregates, where the read had them at no cost
    (offline); the API read leaves them out."""

    @property
    def children(self) -> list[str]:
        return [u for u in self.snapshot.providers if u != self.root]


def concurrently(client: PlacementClient, func: Callable[[T], R],
                 items: Iterable[T]) -> list[R]:
    """``func`` over ``items`` with at most ``client.max_concurrency`` in
    flight; results in input order."""
    work = list(items)
    if client.max_concurrency <= 1 or len(work) <= 1:
        return [func(item) for item in work]
    workers = min(client.max_concurrency, len(work))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(func, work))


def list_roots(client: PlacementClient) -> list[tuple[str, str]]:
    """(uuid, name) of every root provider that is not a sharing one."""
    if client.database is not None:
        return client.database.roots()
    every = client.get('/resource_providers', PROVIDERS)
    sharing = client.get('/resource_providers?required='
                         + os_traits.MISC_SHARES_VIA_AGGREGATE, PROVIDERS)
    shared = {p['uuid'] for p in sharing['resource_providers']}
    return sorted(((p['uuid'], p['name'])
                   for p in every['resource_providers']
                   if p['uuid'] == p['root_provider_uuid']
                   and p['uuid'] not in shared), key=lambda r: r[1])


def find_node(client: PlacementClient, node: str) -> tuple[str, str]:
    """(uuid, name) of the root provider named, or with uuid, ``node``.

    Never "the first" of a listing: the one provider must carry the name.

    :raises NodeNotFound: no such provider; named after a child, it says
        which node the child belongs to.
    """
    names.check_node_name(node)
    provider = _provider(client, node)
    root = provider.get('root_provider_uuid') or provider['uuid']
    if root == provider['uuid']:
        return root, provider['name']
    parent = _provider(client, root)
    raise exception.NodeNotFound(
        method='GET', url='/resource_providers', status=None, node=node,
        message=f'{node} is not a compute node but a child provider of '
                f'node {parent["name"]} ({root}): name the node.')


def _provider(client: PlacementClient, node: str) -> dict[str, Any]:
    if client.database is not None:
        row = client.database.provider(node)
        if row is None:
            raise exception.NodeNotFound(method='GET',
                                         url='/resource_providers',
                                         status=None, node=node)
        return row.as_dict()
    if _is_uuid(node):
        resp = client.request('GET', f'/resource_providers/{node}',
                              version=PROVIDERS)
        if resp.ok:
            return dict(resp.body)
        if resp.status != 404:
            raise resp.error()
    found = client.get('/resource_providers?name='
                       + urllib.parse.quote(node), PROVIDERS)
    providers = [p for p in found.get('resource_providers', [])
                 if p.get('name') == node]
    if len(providers) != 1:
        raise exception.NodeNotFound(method='GET', url='/resource_providers',
                                     status=None, node=node)
    return dict(providers[0])


def read_node(client: PlacementClient, node: str,
              sharing: Iterable[str] = ()) -> NodeRead:
    """The node's tree and its providers' allocations, and the sharing
    providers named in ``sharing`` (by name or uuid).

    The view is consistent: every provider's inventory, traits and
    allocations are those of the generation the tree listing gave.  A view
    torn by a concurrent write (a reshape, a claim) is read again.

    :raises ConcurrentUpdate: the node changed during every read.
    """
    root, name = find_node(client, node)
    if client.database is not None:
        return _from_database(client.database, root, list(sharing))
    ordered, read = _consistent_read(client, root, name)
    providers = {p['uuid']: _provider_value(root, p, r.inventory, r.traits)
                 for p, r in zip(ordered, read, strict=True)}
    uuids = [p['uuid'] for p in ordered]
    return NodeRead(root, name, engine.Snapshot(root, providers),
                    _partial_records(uuids, [r.allocations for r in read]),
                    {ref: _sharing_provider(client, ref) for ref in sharing})


def expect(client: PlacementClient, roots: Iterable[str]) -> None:
    """The roots about to be read, in this order, by a command that writes
    nothing meanwhile (``check``, ``discover``): offline they are read in
    batches."""
    if client.database is not None:
        client.database.expect(roots)


def _from_database(database: PlacementDatabase, root: str,
                   sharing: list[str]) -> NodeRead:
    found = database.node(root, sharing)
    return NodeRead(found.root, found.name, found.snapshot, found.records,
                    found.sharing, whole=True, aggregates=found.aggregates)


def _consistent_read(client: PlacementClient, root: str, name: str
                     ) -> tuple[list[dict[str, Any]], list[_ProviderRead]]:
    """The tree, read again until no write lands during the read."""
    attempt = 0
    while True:
        ordered, read, torn = _read_tree(client, root)
        if not torn:
            return ordered, read
        attempt += 1
        if attempt > client.conflict_retries:
            raise exception.ConcurrentUpdate(
                method='GET', url=f'/resource_providers?in_tree={root}',
                status=None, node=name, attempts=attempt,
                detail=f'Providers changed while being read: '
                       f'{", ".join(torn)}.')
        LOG.info('Node %s changed while being read (%s); reading it '
                 'again, retry %d of %d', name, ', '.join(torn), attempt,
                 client.conflict_retries)
        backoff(client.backoff, attempt)


@dataclasses.dataclass(frozen=True)
class _ProviderRead:
    """One provider's inventory, traits and allocations."""

    inventory: dict[str, Any]
    traits: list[str]
    allocations: dict[str, Any]


def _read_tree(client: PlacementClient, root: str
               ) -> tuple[list[dict[str, Any]], list[_ProviderRead],
                          list[str]]:
    """The providers of the tree, each read whole, and the names of those
    written to while they were read."""
    listing = _listing(client, root)
    ordered = _top_down(root, listing)
    # One pass over the providers, each read whole: one round of requests
    # less between reading the node and reshaping it.
    read = concurrently(client, lambda p: _read_provider(
        client, p['uuid']), ordered)
    # Order matters: the tree is listed again after every read.  One
    # request's answer may mix two states (Placement reads a provider's
    # generation and its allocations in separate statements), but a write
    # that sets inventory or traits, or puts allocations on a provider,
    # bumps its generation: a listing unchanged from the first proves no
    # such write landed between the two.  (One that only takes
    # allocations away may not; the reshape's consumer generations catch
    # those.)
    after = generations(client, root)
    torn = [p['name'] for p in ordered
            if after.get(p['uuid']) != p['generation']]
    if set(after) != {p['uuid'] for p in ordered}:
        torn.append('the tree itself')
    return ordered, read, torn


def _listing(client: PlacementClient, root: str) -> list[dict[str, Any]]:
    return list(client.get(f'/resource_providers?in_tree={root}',
                           PROVIDERS)['resource_providers'])


def generations(client: PlacementClient, root: str) -> dict[str, int]:
    """The generation of each provider in the tree, by uuid, now."""
    if client.database is not None:
        return client.database.generations(root)
    return {p['uuid']: p['generation'] for p in _listing(client, root)}


def _read_provider(client: PlacementClient, uuid: str) -> _ProviderRead:
    inventories, traits = _details(client, uuid)
    allocations = client.get(f'/resource_providers/{uuid}/allocations',
                             ALLOCATIONS)
    return _ProviderRead(inventories['inventories'], traits['traits'],
                         dict(allocations['allocations']))


def _sharing_provider(client: PlacementClient, ref: str
                      ) -> engine.Provider:
    provider = _provider(client, ref)
    inventories, traits = _details(client, provider['uuid'])
    return dataclasses.replace(
        _provider_value(provider['uuid'], provider,
                        inventories['inventories'], traits['traits']),
        parent=None)


def _top_down(root: str, listing: list[dict[str, Any]]
              ) -> list[dict[str, Any]]:
    """Parents before children, as the engine's snapshots are."""
    by_parent: dict[str | None, list[dict[str, Any]]] = {}
    for provider in listing:
        parent = (None if provider['uuid'] == root
                  else provider['parent_provider_uuid'])
        by_parent.setdefault(parent, []).append(provider)
    ordered: list[dict[str, Any]] = []
    frontier = by_parent.get(None, [])
    while frontier:
        ordered.extend(frontier)
        frontier = [c for p in frontier for c in by_parent.get(p['uuid'], [])]
    return ordered


def _provider_value(root: str, provider: dict[str, Any],
                    inventory: dict[str, Any], traits: list[str]
                    ) -> engine.Provider:
    uuid = provider['uuid']
    return engine.Provider(
        uuid=uuid, name=provider['name'],
        parent=None if uuid == root else provider['parent_provider_uuid'],
        generation=provider['generation'],
        inventory=model.read_inventory(provider['name'], inventory),
        traits=frozenset(traits))


def _partial_records(uuids: list[str], held: list[dict[str, Any]]
                     ) -> dict[str, engine.ConsumerRecord]:
    allocations: dict[str, dict[str, dict[str, int]]] = {}
    generations: dict[str, int | None] = {}
    for uuid, consumers in zip(uuids, held, strict=True):
        for consumer, entry in consumers.items():
            allocations.setdefault(consumer, {})[uuid] = dict(
                entry['resources'])
            generations[consumer] = entry.get('consumer_generation')
    return {c: engine.ConsumerRecord(c, a, consumer_generation=generations[c])
            for c, a in allocations.items()}


def _details(client: PlacementClient, uuid: str
             ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The bodies of the provider's inventories and traits."""
    return (client.get(f'/resource_providers/{uuid}/inventories',
                       PROVIDERS),
            client.get(f'/resource_providers/{uuid}/traits', PROVIDERS))


def complete(client: PlacementClient, state: NodeRead,
             consumers: tuple[str, ...], *,
             consumer_types: bool = True) -> None:
    """Replace the records of ``consumers`` with their whole records.

    Without ``consumer_types`` they are read below microversion 1.38,
    which is cheaper for Placement and leaves the records untyped.
    A consumer whose allocations vanished since the first read is dropped:
    it has nothing left to move.  A read that was whole already reads
    nothing.
    """
    if state.whole:
        return
    version = client.version()
    if not consumer_types:
        version = microversion.untyped(version)
    bodies = concurrently(
        client, lambda c: client.get(f'/allocations/{c}', version),
        consumers)
    for consumer, body in zip(consumers, bodies, strict=True):
        if not body.get('allocations'):
            del state.records[consumer]
            continue
        state.records.update(parse_allocations({consumer: body}))


def _is_uuid(value: str) -> bool:
    try:
        uuidlib.UUID(value)
    except ValueError:
        return False
    return True
