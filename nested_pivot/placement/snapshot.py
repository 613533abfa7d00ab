"""Read one node from Placement: only what a pivot needs.

The tree, each provider's inventory and traits, and each provider's
allocations (with consumer generations) cost a fixed number of requests per
provider.  Full consumer records (project, user, type, allocations on other
hosts and sharing providers) are read only for the consumers that move.
"""

from __future__ import annotations

import dataclasses
from typing import Any
import urllib.parse
import uuid as uuidlib

from nested_pivot import exception
from nested_pivot import microversion
from nested_pivot.placement.http import PlacementClient
from nested_pivot.tree import ProviderTree

TREE_VERSION = '1.20'
ALLOCATIONS_VERSION = microversion.text(
    microversion.PROVIDER_ALLOCATIONS_GENERATIONS)


@dataclasses.dataclass
class NodeSnapshot:
    """A node as Placement holds it, in the engine's input shapes.

    ``allocations`` is nova-shaped; a record holds the consumer's resources
    on this node's providers only until :func:`complete` reads it whole.
    """

    root: str
    name: str
    tree: ProviderTree
    allocations: dict[str, dict[str, Any]]

    @property
    def children(self) -> list[str]:
        return self.tree.get_provider_uuids(self.root)[1:]


def list_roots(client: PlacementClient) -> list[tuple[str, str]]:
    """(uuid, name) of every root provider that is not a sharing one."""
    every = client.get('/resource_providers', TREE_VERSION)
    sharing = client.get('/resource_providers?required='
                         'MISC_SHARES_VIA_AGGREGATE', TREE_VERSION)
    shared = {p['uuid'] for p in sharing['resource_providers']}
    return sorted(((p['uuid'], p['name'])
                   for p in every['resource_providers']
                   if p['uuid'] == p['root_provider_uuid']
                   and p['uuid'] not in shared), key=lambda r: r[1])


def find_node(client: PlacementClient, node: str) -> tuple[str, str]:
    """(uuid, name) of the root provider named, or with uuid, ``node``."""
    if _is_uuid(node):
        resp = client.request('GET', f'/resource_providers/{node}',
                              version=TREE_VERSION)
        if resp.ok:
            return _root_of(client, resp.body, node)
        if resp.status != 404:
            raise resp.error()
    found = client.get('/resource_providers?name='
                       + urllib.parse.quote(node), TREE_VERSION)
    providers = found.get('resource_providers', [])
    if not providers:
        raise exception.NodeNotFound(method='GET', url='/resource_providers',
                                     status=404, node=node)
    return _root_of(client, providers[0], node)


def _root_of(client: PlacementClient, provider: dict[str, Any],
             node: str) -> tuple[str, str]:
    root = provider.get('root_provider_uuid') or provider['uuid']
    if root == provider['uuid']:
        return root, provider['name']
    body = client.get(f'/resource_providers/{root}', TREE_VERSION)
    return root, body['name']


def read_node(client: PlacementClient, node: str) -> NodeSnapshot:
    """The node's tree and its providers' allocations."""
    root, name = find_node(client, node)
    listing = client.get(f'/resource_providers?in_tree={root}',
                         TREE_VERSION)['resource_providers']
    tree = ProviderTree()
    tree.populate_from_iterable(listing)
    uuids = [p['uuid'] for p in listing]
    for uuid, (inventory, traits) in zip(
            uuids, client.map(lambda u: _provider_details(client, u), uuids),
            strict=True):
        tree.update_inventory(uuid, inventory)
        tree.update_traits(uuid, traits)
    allocations: dict[str, dict[str, Any]] = {}
    for uuid, consumers in zip(
            uuids, client.map(lambda u: _provider_allocations(client, u),
                              uuids), strict=True):
        for consumer, entry in consumers.items():
            record = allocations.setdefault(consumer, {
                'allocations': {},
                'consumer_generation': entry.get('consumer_generation')})
            record['allocations'][uuid] = {'resources': entry['resources']}
    return NodeSnapshot(root, name, tree, allocations)


def _provider_details(client: PlacementClient, uuid: str
                      ) -> tuple[dict[str, Any], list[str]]:
    inventories = client.get(f'/resource_providers/{uuid}/inventories')
    traits = client.get(f'/resource_providers/{uuid}/traits')
    return inventories['inventories'], traits['traits']


def _provider_allocations(client: PlacementClient, uuid: str
                          ) -> dict[str, Any]:
    body = client.get(f'/resource_providers/{uuid}/allocations',
                      ALLOCATIONS_VERSION)
    return dict(body['allocations'])


def complete(client: PlacementClient, snapshot: NodeSnapshot,
             consumers: tuple[str, ...], *,
             consumer_types: bool = True) -> None:
    """Replace the records of ``consumers`` with their full records.

    Without ``consumer_types`` they are read below microversion 1.38,
    which is cheaper for Placement and leaves the records untyped.
    A consumer whose allocations vanished since the first read is dropped:
    it has nothing left to move.
    """
    version = client.version()
    if not consumer_types:
        version = microversion.untyped(version)
    url_version = microversion.text(version)
    records = client.map(
        lambda c: client.get(f'/allocations/{c}', url_version), consumers)
    for consumer, record in zip(consumers, records, strict=True):
        if not record.get('allocations'):
            del snapshot.allocations[consumer]
            continue
        snapshot.allocations[consumer] = record


def _is_uuid(value: str) -> bool:
    try:
        uuidlib.UUID(value)
    except ValueError:
        return False
    return True
