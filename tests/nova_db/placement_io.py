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

"""Seed real Placement with flat nodes and their allocations, and read it
back whole, through Placement's own API (never through nested_pivot).

Placement configures one database per process, so for a database this
runs as a process of its own::

    python -m tests.nova_db.placement_io seed URL < spec.json
    python -m tests.nova_db.placement_io dump URL > state.json
    python -m tests.nova_db.placement_io calls URL < requests.json

A spec: ``{"nodes": {name: {"inventory": {rc: record}, "consumers":
{uuid: {"resources": {rc: n}, "type": "INSTANCE"}}, "aggregates":
[uuid]}}, "consumers": {uuid: {"on": {name: {rc: n}}, "type":
"MIGRATION"}}}`` (``aggregates`` optional): the top-level consumers hold
allocations on several nodes at once (a move in progress).

nova's own report client acts on a Placement database as nova's compute
and conductor do when a move ends::

    python -m tests.nova_db.placement_io nova URL < actions.json

with ``{"confirm": [migration uuid], "revert": [[migration, instance]]}``:
a confirmed resize deletes the migration's allocations, a reverted one
gives them back to the instance (``move_allocations``).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from tests.functional import harness
from tests.functional import seed


def seed_spec(adapter: Any, spec: dict[str, Any]) -> dict[str, str]:
    """The flat nodes and allocations of ``spec``; node name -> uuid."""
    roots = {}
    for name, node in spec['nodes'].items():
        root = seed.flat_node(adapter, name, node['inventory'])
        roots[name] = root
        for consumer, entry in node.get('consumers', {}).items():
            seed.allocate(adapter, consumer, {root: entry['resources']},
                          consumer_type=entry.get('type', 'INSTANCE'))
        for aggregate in node.get('aggregates', ()):
            seed.aggregate(adapter, root, aggregate)
    for consumer, entry in spec.get('consumers', {}).items():
        seed.allocate(adapter, consumer,
                      {roots[n]: r for n, r in entry['on'].items()},
                      consumer_type=entry.get('type', 'INSTANCE'))
    return roots


def nova_actions(adapter: Any, actions: dict[str, Any]) -> dict[str, Any]:
    """Confirm and revert moves with nova's own report client."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        from nova import conf as nova_conf
        from nova import context as nova_context
        from nova.scheduler.client import report

    nova_conf.CONF([], project='nova', default_config_files=[],
                   default_config_dirs=[])
    client = report.SchedulerReportClient(adapter=adapter)
    ctx = nova_context.get_admin_context()
    done = {}
    for migration in actions.get('confirm', []):
        done[migration] = bool(client.delete_allocation_for_instance(
            ctx, migration, consumer_type='migration', force=False))
    for migration, instance in actions.get('revert', []):
        done[migration] = bool(client.move_allocations(
            ctx, migration, instance))
    return done


def dump(adapter: Any) -> dict[str, Any]:
    """Every provider (by name: uuid, parent name, inventory, traits)
    and every consumer's allocations by provider name, with its owner."""
    listing = seed.call(adapter, 'GET', '/resource_providers')
    by_uuid = {p['uuid']: p for p in listing['resource_providers']}
    providers = {}
    allocations: dict[str, dict[str, Any]] = {}
    for uuid, rp in by_uuid.items():
        parent = by_uuid.get(rp['parent_provider_uuid'] or '')
        inventories = seed.call(
            adapter, 'GET', f'/resource_providers/{uuid}/inventories')
        traits = seed.call(adapter, 'GET',
                           f'/resource_providers/{uuid}/traits')
        providers[rp['name']] = {
            'uuid': uuid, 'parent': parent['name'] if parent else None,
            'inventory': inventories['inventories'],
            'traits': sorted(traits['traits'])}
        held = seed.call(adapter, 'GET',
                         f'/resource_providers/{uuid}/allocations')
        for consumer in held['allocations']:
            allocations.setdefault(consumer, {})
    for consumer in allocations:
        body = seed.call(adapter, 'GET', f'/allocations/{consumer}')
        allocations[consumer] = {
            'allocations': {by_uuid[rp]['name']: entry['resources']
                            for rp, entry in body['allocations'].items()},
            'project_id': body['project_id'], 'user_id': body['user_id'],
            'consumer_type': body.get('consumer_type')}
    return {'providers': providers, 'consumers': allocations}


def calls(adapter: Any, requests: list[dict[str, Any]]
          ) -> list[dict[str, Any]]:
    """Each request ``{"method", "url", "body", "mv"}`` through
    Placement's API, in order; each answer's status and body."""
    answers = []
    for request in requests:
        resp = adapter.request(request['url'], request['method'],
                               json=request.get('body'),
                               microversion=request.get('mv', seed.MV),
                               raise_exc=False)
        answers.append({'status': resp.status_code,
                        'body': resp.json() if resp.content else None})
    return answers


def main(command: str, url: str) -> None:
    conf = harness.configure_database(url)
    with harness.direct_placement(conf) as adapter:
        if command == 'seed':
            json.dump(seed_spec(adapter, json.load(sys.stdin)), sys.stdout)
        elif command == 'nova':
            json.dump(nova_actions(adapter, json.load(sys.stdin)),
                      sys.stdout)
        elif command == 'calls':
            json.dump(calls(adapter, json.load(sys.stdin)), sys.stdout)
        else:
            json.dump(dump(adapter), sys.stdout)


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
