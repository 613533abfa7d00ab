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

"""Audit one node: read its tree from Placement, then ask nova about
every consumer that holds allocations there."""

from __future__ import annotations

from nested_pivot import engine
from nested_pivot.audit import model
from nested_pivot.audit.model import NodeAudit
from nested_pivot.engine import target
from nested_pivot.novadb.consumers import NovaConsumers
from nested_pivot.placement import read
from nested_pivot.placement.http import PlacementClient

SOURCE = "nova's cell database"


def audit_node(client: PlacementClient, node: str, nova: NovaConsumers, *,
               unknown_fixable: bool) -> NodeAudit:
    """The findings and strays of ``node`` (a name or uuid).

    ``unknown_fixable``: see :func:`nested_pivot.audit.model.finding`.

    :raises NodeNotFound: Placement has no such node.
    :raises NovaFactsError: nova's database cannot be read.
    """
    uuid, name = read.find_node(client, node)
    skipped = NodeAudit(name, uuid, skipped=f'{SOURCE} has no compute '
                                            f'node {name}: not audited')
    if nova.node(name) is None:
        return skipped
    # Order matters: Placement first, then nova.  An instance that is
    # being booted holds its claim before nova's conductor writes it to
    # its cell: read in this order, a claim Placement showed has its
    # instance in the cell by the time nova is read, or is a build
    # request in nova's API database.
    state = read.read_node(client, uuid)
    nova_node = nova.node(name)
    if nova_node is None:
        return skipped
    names = {u: p.name for u, p in state.snapshot.providers.items()}
    # What each consumer holds in the node's tree: an offline read gives
    # its allocations everywhere (a sharing provider, another node).
    held = {c: {p: dict(r) for p, r in record.allocations.items()
                if p in names}
            for c, record in state.records.items()}
    found = model.candidates(held, nova_node)
    known = nova.look_up(found)
    owned = owned_providers(state.snapshot)
    findings = tuple(
        model.finding(c, held[c], state.records[c].consumer_generation,
                      known[c], nova_node, owned,
                      unknown_fixable=unknown_fixable)
        for c in found)
    inventories = {u: frozenset(p.inventory)
                   for u, p in state.snapshot.providers.items()}
    return NodeAudit(name, uuid, findings,
                     tuple(model.strays(inventories, held)), names)


def owned_providers(snapshot: engine.Snapshot) -> frozenset[str]:
    """The providers of the node ``--fix`` may clear: its root and the
    children nested_pivot created (known by their uuids)."""
    return frozenset(u for u in snapshot.providers
                     if u == snapshot.root
                     or target.created_here(snapshot, u))
