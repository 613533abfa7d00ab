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

"""What Placement holds of the nodes nova's facts describe, and the
layouts built from both."""

from __future__ import annotations

from collections.abc import Collection
import dataclasses

from nested_pivot.novadb.build import build
from nested_pivot.novadb.build import Built
from nested_pivot.novadb.build import DeviceView
from nested_pivot.novadb.build import NodeView
from nested_pivot.novadb.build import VF
from nested_pivot.novadb.facts import Facts
from nested_pivot.novadb.reader import read as read_facts
from nested_pivot.novadb.reader import Source
from nested_pivot.placement import read
from nested_pivot.placement.http import PlacementClient


def views(client: PlacementClient, roots: Collection[tuple[str, str]]
          ) -> dict[str, NodeView]:
    """The view of each root provider ``(uuid, name)``, by name."""
    read.expect(client, [uuid for uuid, _ in roots])
    found = read.concurrently(client, lambda r: view(client, r[0]), roots)
    return {name: one for (_, name), one in zip(roots, found, strict=True)}


def view(client: PlacementClient, root: str) -> NodeView:
    """The root's records, the classes the node's tree offers, and each
    consumer's amounts on the node's providers."""
    state = read.read_node(client, root)
    providers = state.snapshot.providers
    held: dict[str, dict[str, int]] = {}
    for consumer, record in state.records.items():
        per = held.setdefault(consumer, {})
        for provider, resources in record.allocations.items():
            if provider in providers:
                for rc, amount in resources.items():
                    per[rc] = per.get(rc, 0) + amount
    return NodeView(
        root_inventory=dict(providers[state.root].inventory),
        offered=frozenset(rc for p in providers.values()
                          for rc in p.inventory),
        held=held, devices=_devices(state))


def _devices(state: read.NodeRead) -> dict[str, DeviceView]:
    """The node's children offering VFs, by short name: what tells a PF
    child made under another name (an interface's) which PF it is."""
    providers = state.snapshot.providers
    prefix = providers[state.root].name + '_'
    found = {}
    for uuid, provider in providers.items():
        record = provider.inventory.get(VF)
        if uuid == state.root or record is None \
                or not provider.name.startswith(prefix):
            continue
        parent = providers[provider.parent or state.root].name
        holders = {c: r.allocations[uuid][VF]
                   for c, r in state.records.items()
                   if r.allocations.get(uuid, {}).get(VF)}
        found[provider.name[len(prefix):]] = DeviceView(
            record.total, parent[len(prefix):] if parent != prefix[:-1]
            else None, holders)
    return found


def layouts(source: Source, client: PlacementClient | None = None,
            nodes: Collection[str] | None = None,
            facts: Facts | None = None) -> Built:
    """nova's facts (``facts``, or read from ``source``) as layouts,
    checked against Placement when ``client`` is given: of ``nodes``
    (names) only, or of every compute node."""
    if facts is None:
        facts = read_facts(source)
    if nodes is not None:
        facts = dataclasses.replace(facts, nodes={
            n: node for n, node in facts.nodes.items() if n in nodes})
    if client is None:
        return build(facts)
    roots = [r for r in read.list_roots(client)
             if nodes is None or r[1] in nodes]
    known = [r for r in roots if r[1] in facts.nodes]
    return build(facts, views(client, known), [name for _, name in roots])
