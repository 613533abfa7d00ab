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

"""``nested-pivot audit`` and the check after a pivot, online: a real
Placement server on PostgreSQL and on MariaDB (through a real proxy that
lets a test write while a command runs), and nova's cell database, made
by nova's migrations, on the same server.

What happens while a command runs is written for real at the moment the
proxy forwards the command's request: another writer's change to a
consumer, nova taking a consumer back (a boot reaching its cell), nova
deleting an instance while its node's reshape is in flight.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any
import uuid as uuidlib

import pytest

from tests.functional import harness
from tests.functional import seed
from tests.nova_db import audit_fleet
from tests.nova_db import cells as nova
from tests.nova_db.audit_fleet import Fleet
from tests.nova_db.test_audit import fleet_stage
from tests.nova_db.test_from_nova import cli


@dataclasses.dataclass
class Online:
    url: str
    server_db: str
    cell: nova.NovaCell
    who: Fleet
    adapter: Any
    roots: dict[str, str]
    tmp: Path

    def access(self, proxy: harness.FaultProxy, extra: str = '',
               nova_db: bool = True) -> list[str]:
        """nova.conf reaching Placement through ``proxy`` (with the
        service role) and, with ``nova_db``, nova's cell database."""
        conf = self.tmp / f'nova-{uuidlib.uuid4().hex[:6]}.conf'
        database = (f'[database]\nconnection = {self.cell.connection}\n'
                    if nova_db else '')
        conf.write_text(f'[placement]\nauth_type = admin_token\n'
                        f'endpoint = {proxy.url}\ntoken = admin\n'
                        f'{database}{extra}')
        return ['--from-nova', '--config-file', str(conf), '--state-dir',
                str(self.tmp / 'state')]


@pytest.fixture(params=harness.BACKENDS)
def online(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """This test's fleet, flat, on the backend's server; nova's cell
    database on the same server."""
    backend = request.param.upper()
    url = os.environ.get(f'NESTED_PIVOT_PLACEMENT_URL_{backend}')
    server_db = os.environ.get(f'NESTED_PIVOT_PLACEMENT_DB_{backend}')
    if not (url and server_db):
        reason = ('no Placement server: run under tools/placement-server '
                  'run --db all')
        if os.environ.get('CI'):
            pytest.fail(reason)
        pytest.skip(reason)
    nova_db = harness.create_database(
        server_db, f'np_nova_{uuidlib.uuid4().hex[:10]}')
    try:
        cell = nova.NovaCell(nova_db)
        who = audit_fleet.nova_side(cell, seed.unique('aud'))
        adapter = harness.http_placement(url)
        roots = audit_fleet.before(adapter, who)
        for root in roots.values():
            seed.mark_hook(adapter, root)  # their computes run the hook
        yield Online(url, server_db, cell, who, adapter, roots, tmp_path)
    finally:
        harness.drop_database(nova_db)


def _pivoted(online: Online, proxy: harness.FaultProxy) -> None:
    """Pivot both nodes from nova's facts, then write the leaks."""
    who = online.who
    applied = cli('apply', who.a, who.b, '--yes', *online.access(proxy))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    online.cell.delete(who.deleted)
    audit_fleet.unshelving(online.cell, who.busy)
    audit_fleet.after(online.adapter, who, None)


def _proxy(online: Online) -> harness.FaultProxy:
    proxy = harness.FaultProxy(online.url)
    proxy.set_headers = {'X-Roles': 'admin,service'}
    return proxy


def _fixes(run: Any, node: str) -> dict[str, dict[str, Any]]:
    assert run.stdout, run.stderr
    document = json.loads(run.stdout)
    entry = next(n for n in document['nodes'] if n['node'] == node)
    return {f['consumer']: dict(f['fix'] or {}, state=f['state'],
                                why_not=f['why_not'])
            for f in entry['findings']}


def _held(adapter: Any, consumer: str) -> dict[str, Any]:
    return seed.record(adapter, consumer)['allocations']


def test_an_unknown_consumer_online_needs_nova_api_database(online):
    """Fails when, online, an unknown consumer is removed without nova's
    API database read (a boot whose instance is not in its cell yet looks
    the same), or when, with it, a booting instance (its instance mapping
    there) is removed, or a truly unknown one is not."""
    who = online.who
    booting = str(uuidlib.uuid4())
    with _proxy(online) as proxy:
        _pivoted(online, proxy)
        names = {p['name']: p['uuid'] for p in seed.call(
            online.adapter, 'GET', '/resource_providers')[
            'resource_providers']}
        numa0 = names[f'{who.a}_NUMA0']
        seed.allocate(online.adapter, booting,
                      {numa0: {'VCPU': 1, 'MEMORY_MB': 256}})
        first = cli('audit', who.a, who.b, '--fix', '--yes', '--json',
                    *online.access(proxy))
        assert first.returncode == 1, first.stdout + first.stderr
        fixes = _fixes(first, who.a)
        assert {c: f['result'] for c, f in fixes.items()} == {
            who.deleted: 'removed', who.elsewhere: 'removed',
            who.unknown: 'left alone', booting: 'left alone',
            who.foreign_only: 'left alone', who.busy: 'left alone'}
        assert '--all-cells' in fixes[who.unknown]['why_not']
        assert fixes[booting]['state'] == 'unknown'
        unknown_held = _held(online.adapter, who.unknown)
        assert unknown_held

        api_db = harness.create_database(
            online.server_db, f'np_api_{uuidlib.uuid4().hex[:10]}')
        try:
            fleet_stage('api', api_db, json.dumps([booting]),
                        online.cell.connection)
            access = online.access(
                proxy, f'[api_database]\nconnection = {api_db}\n',
                nova_db=False)
            second = cli('audit', who.a, '--all-cells', '--fix', '--yes',
                         '--json', *access)
        finally:
            harness.drop_database(api_db)
    assert second.returncode == 1, second.stdout + second.stderr
    fixes = _fixes(second, who.a)
    assert fixes[who.unknown]['result'] == 'removed'
    assert fixes[booting]['state'] == 'busy'
    assert fixes[booting]['result'] == 'left alone'
    assert seed.record(online.adapter, who.unknown)['allocations'] == {}
    assert _held(online.adapter, booting) == {
        numa0: {'VCPU': 1, 'MEMORY_MB': 256}}


def test_fix_leaves_alone_what_changes_meanwhile(online):
    """Fails when --fix removes a consumer that another writer changed
    between its read and its write (Placement must refuse the write on
    the consumer generation), or one that nova took back meanwhile (the
    instance now lives on the node)."""
    who = online.who
    other = harness.http_placement(online.url)
    seen: set[str] = set()
    rewritten: dict[str, Any] = {}

    def meanwhile(method: str, path: str) -> None:
        if method == 'PUT' and path == f'/allocations/{who.deleted}' \
                and 'put' not in seen:
            seen.add('put')  # another writer, between --fix's GET and PUT
            record = seed.call(other, 'GET', f'/allocations/{who.deleted}')
            held = {p: dict(e['resources'])
                    for p, e in record['allocations'].items()}
            numa = next(p for p, r in held.items() if 'MEMORY_MB' in r)
            held[numa]['MEMORY_MB'] = 256
            seed.allocate(other, who.deleted, held,
                          generation=record['consumer_generation'])
            rewritten.update(held)
        if method == 'GET' and path == f'/allocations/{who.elsewhere}' \
                and 'get' not in seen:
            seen.add('get')  # nova moves the instance onto the node
            _move(online.cell, who.elsewhere, who.a)

    with _proxy(online) as proxy:
        _pivoted(online, proxy)
        before = {c: _held(online.adapter, c)
                  for c in (who.elsewhere, who.live, who.mig, who.moved)}
        proxy.before_forward = meanwhile
        run = cli('audit', who.a, '--fix', '--yes', '--json',
                  *online.access(proxy))
        proxy.before_forward = None
        assert not proxy.hook_errors, proxy.hook_errors
    assert run.returncode == 1, run.stdout + run.stderr
    assert seen == {'put', 'get'}
    fixes = _fixes(run, who.a)
    assert fixes[who.deleted]['result'] == 'left alone'
    assert 'changed meanwhile' in fixes[who.deleted]['detail']
    assert fixes[who.elsewhere]['result'] == 'left alone'
    assert 'nova now has it' in fixes[who.elsewhere]['detail']
    assert _held(online.adapter, who.deleted) == rewritten
    for consumer, held in before.items():
        assert _held(online.adapter, consumer) == held, consumer


def _move(cell: nova.NovaCell, instance: str, node: str) -> None:
    from nova import objects

    record = objects.Instance.get_by_uuid(cell.ctx, instance)
    compute = cell.nodes[node].compute
    record.host, record.node = compute.host, node
    record.compute_id = compute.id
    record.save()


def test_apply_reports_an_instance_deleted_during_its_reshape(online):
    """Fails when apply --from-nova does not name a consumer whose
    instance nova deleted while the node's reshape was in flight and that
    the reshape left holding allocations, or removes it itself, or when
    audit --fix does not remove it afterwards."""
    who = online.who
    deleting = {online.roots[who.a]: who.live,
                online.roots[who.b]: who.elsewhere}

    def during_reshape(method: str, path: str, body: bytes) -> None:
        if method != 'POST' or not path.endswith('/reshaper'):
            return
        # The reshaper policy's probe (a body without inventories) first.
        for root in json.loads(body).get('inventories', {}):
            if deleting.get(root):
                # nova's delete: the instance first, then its bare DELETE
                # (which this reshape undoes, answering 204: none is sent)
                online.cell.delete(deleting.pop(root))

    with _proxy(online) as proxy:
        proxy.keep_bodies = True
        proxy.before_forward_body = during_reshape
        first = cli('apply', who.a, '--yes', '--json',
                    *online.access(proxy))
        second = cli('apply', who.b, '--yes', *online.access(proxy))
        proxy.before_forward_body = None
        assert not proxy.hook_errors, proxy.hook_errors
        assert first.returncode == 0, first.stdout + first.stderr
        assert second.returncode == 0, second.stdout + second.stderr
        node = json.loads(first.stdout)['nodes'][0]
        assert node['result'] == 'done' and node['leaked'] == [who.live]
        assert 'still holds allocations although nova has deleted its ' \
            f'instance: {who.live}' in node['detail']
        out = ' '.join(second.stdout.split())
        assert f'instance: {who.elsewhere}' in out
        assert 'Nothing was removed. Check and remove them with: ' \
            f'nested-pivot audit {who.b} --fix' in out
        for consumer in (who.live, who.elsewhere):  # not removed by apply
            assert _held(online.adapter, consumer), consumer

        fixed = cli('audit', who.a, who.b, '--fix', '--yes', '--json',
                    *online.access(proxy))
    assert fixed.returncode == 1, fixed.stdout + fixed.stderr
    assert _fixes(fixed, who.a)[who.live]['result'] == 'removed'
    assert _fixes(fixed, who.b)[who.elsewhere]['result'] == 'removed'
    assert _fixes(fixed, who.b)[who.elsewhere]['state'] == 'deleted'
    for consumer in (who.live, who.elsewhere):
        assert _held(online.adapter, consumer) == {}, consumer


def test_the_check_inside_nova_compute(online):
    """Fails when the check the hook calls (through nova's own objects
    and report client) does not name exactly the rewritten consumers
    whose instance nova deleted and that still hold allocations on the
    node: not a live instance, not a migration, not an instance whose
    delete (nova's own bare DELETE) reached Placement, not a hold outside
    the node."""
    from nova.scheduler.client import report

    from nested_pivot.audit import recheck

    who, cell = online.who, online.cell
    client = report.SchedulerReportClient(
        adapter=harness.http_placement(online.url))
    cell.delete(who.deleted)
    cell.delete(who.live)
    assert client.delete_allocation_for_instance(cell.ctx, who.live,
                                                 force=True)
    root = online.roots[who.a]
    leaks = recheck.in_nova_compute(
        who.a, [who.deleted, who.live, who.mig, who.moved],
        [root, who.neutron], context=cell.ctx, report_client=client)
    assert [(leak.consumer, leak.held) for leak in leaks] == [
        (who.deleted, {root: {'VCPU': 1, 'MEMORY_MB': 512},
                       who.neutron: {audit_fleet.BW: 1000}})]
    assert who.a in recheck.warning(who.a, leaks)
