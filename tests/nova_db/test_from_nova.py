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

"""Exact offline pivots from nova's own database, end to end.

A real nova cell database (nova's migrations, rows written through nova's
objects) and a real Placement holding the matching flat allocations, on
SQLite and on the PostgreSQL and MariaDB servers; the real
``nested-pivot`` console script in a subprocess, offline through
``--placement-db``, and online through a real Placement server.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import subprocess
import sys
from typing import Any

import pytest

from tests.functional import harness
from tests.functional import seed
from tests.nova_db import cells as nova
from tests.nova_db import placement_io
from tests.nova_db.cells import Cell

SCRIPT = str(Path(sys.executable).with_name('nested-pivot'))
ROOT = Path(__file__).resolve().parents[2]
DISK = 10


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL, cwd=ROOT,
                          check=False)


def placement(command: str, url: str, spec: Any = None) -> Any:
    """Seed or dump the Placement database ``url`` in a process of its
    own (Placement configures one database per process)."""
    proc = subprocess.run(
        [sys.executable, '-m', 'tests.nova_db.placement_io', command, url],
        input=json.dumps(spec) if spec is not None else '', text=True,
        capture_output=True, cwd=ROOT, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def held(cells: list[Cell], converted: bool = True, vfs: int = 0,
         disk: bool = True) -> dict[str, int]:
    """What an instance of ``cells`` holds on a flat root (pinned CPUs
    as VCPU when not yet ``converted``)."""
    found = {'VCPU': sum(c.vcpus for c in cells),
             'PCPU': sum(c.pcpus for c in cells),
             'MEMORY_MB': sum(c.memory_mb for c in cells)}
    if not converted:
        found['VCPU'] += found.pop('PCPU')
    if disk:
        found['DISK_GB'] = DISK
    if vfs:
        found['SRIOV_NET_VF'] = vfs
    return {rc: n for rc, n in found.items() if n}


FLOATING = {'VCPU': 1, 'MEMORY_MB': 512, 'DISK_GB': DISK}


def flat_root(node: nova.HostNode, vfs: int = 0) -> dict[str, Any]:
    """The flat root nova reported for ``node`` before the pivot."""
    cells = node.topology.cells if node.topology else []
    inventory: dict[str, Any] = {
        'DISK_GB': {'total': 1000},
        'MEMORY_MB': {'total': sum(c.memory for c in cells) or 8192,
                      'reserved': 512}}
    vcpus = sum(len(c.cpuset) for c in cells) or 8
    inventory['VCPU'] = {'total': vcpus, 'allocation_ratio': 4.0}
    pcpus = sum(len(c.pcpuset) for c in cells)
    if pcpus:
        inventory['PCPU'] = {'total': pcpus}
    if vfs:
        inventory['SRIOV_NET_VF'] = {'total': vfs}
    return inventory


class Fleet:
    """Three compute nodes in nova and in Placement, and one node only
    Placement has.

    cmp-a: two cells with shared and dedicated CPUs and a PF each.
    Pinned instances on cell 1 (one still holding VCPU, as before PCPU
    existed; one with a VF), one with an isolated emulator thread on cell
    0, a mixed one, a two-cell guest, a floating one with a VF on each PF
    (split), two floating ones, and the source of a resize (a migration
    consumer).  cmp-b: the resize's destination, a floating instance and
    an allocation nova does not know.  cmp-c: no NUMA topology.
    """

    def __init__(self, cell: nova.NovaCell) -> None:
        self.cell = cell
        a = cell.node('cmp-a', [(4, 10, 16384), (4, 10, 16384)],
                      pfs={'0000:3b:00.0': (0, 4), '0000:af:00.0': (1, 4)})
        b = cell.node('cmp-b', [(4, 4, 8192), (4, 4, 8192)])
        c = cell.node('cmp-c', [])
        self.shapes: dict[str, tuple[list[Cell], dict[str, int]]] = {}
        self.consumers: dict[str, dict[str, Any]] = {}
        self.p1 = self.add('cmp-a', [Cell(1, pcpus=2, memory_mb=2048)])
        self.p2 = self.add('cmp-a', [Cell(1, pcpus=2, memory_mb=1024)],
                           converted=False)
        self.p3 = self.add('cmp-a', [Cell(1, pcpus=2, memory_mb=1024)],
                           vfs={'0000:af:00.0': 1})
        self.e1 = self.add('cmp-a', [Cell(0, pcpus=2, memory_mb=1024)],
                           emulator_isolate=True)
        self.x1 = self.add('cmp-a', [Cell(1, vcpus=1, pcpus=1,
                                          memory_mb=1024)])
        self.m1 = self.add('cmp-a', [Cell(0, vcpus=1, memory_mb=1024),
                                     Cell(1, vcpus=1, memory_mb=1024)])
        self.v1 = self.add('cmp-a', None, vfs={'0000:3b:00.0': 1,
                                               '0000:af:00.0': 1})
        self.f1 = self.add('cmp-a', None)
        self.f2 = self.add('cmp-a', None)
        old = [Cell(1, pcpus=2, memory_mb=1024)]
        self.r1 = cell.instance('cmp-a', old)
        self.mig = cell.migration(self.r1, 'cmp-a', 'cmp-b', None,
                                  [Cell(1, pcpus=2, memory_mb=1024)])
        self.consumers[self.mig] = {'node': 'cmp-a', 'type': 'MIGRATION',
                                    'resources': held(old)}
        self.consumers[self.r1] = {'node': 'cmp-b', 'type': 'INSTANCE',
                                   'resources': held(old)}
        self.f3 = self.add('cmp-b', None)
        self.orphan = '6f1c2b0e-0000-4000-8000-00000000beef'
        self.consumers[self.orphan] = {'node': 'cmp-b', 'type': 'INSTANCE',
                                       'resources': FLOATING}
        self.f4 = self.add('cmp-c', None)
        self.roots = {'cmp-a': flat_root(a, vfs=8), 'cmp-b': flat_root(b),
                      'cmp-c': flat_root(c), 'other-1': flat_root(c)}
        self.other = self.add_placement_only('other-1')

    def add(self, node: str, cells: list[Cell] | None,
            vfs: dict[str, int] | None = None, converted: bool = True,
            emulator_isolate: bool = False) -> str:
        uuid = self.cell.instance(node, cells, vfs=vfs,
                                  emulator_isolate=emulator_isolate)
        resources = dict(FLOATING)
        if cells:
            resources = held(cells, converted)
            if emulator_isolate:
                resources['PCPU'] += 1
        if vfs:
            resources['SRIOV_NET_VF'] = sum(vfs.values())
        self.consumers[uuid] = {'node': node, 'type': 'INSTANCE',
                                'resources': resources}
        return uuid

    def add_placement_only(self, node: str) -> str:
        uuid = '6f1c2b0e-0000-4000-8000-00000000cafe'
        self.consumers[uuid] = {'node': node, 'type': 'INSTANCE',
                                'resources': FLOATING}
        return uuid

    def spec(self) -> dict[str, Any]:
        nodes: dict[str, Any] = {n: {'inventory': inv, 'consumers': {}}
                                 for n, inv in self.roots.items()}
        for uuid, entry in self.consumers.items():
            nodes[entry['node']]['consumers'][uuid] = {
                'resources': entry['resources'], 'type': entry['type']}
        return {'nodes': nodes}


@pytest.fixture
def offline(databases: Any) -> tuple[Fleet, list[str]]:
    """The fleet in a nova cell database and a Placement database of the
    backend; the access options of an offline command."""
    nova_db, placement_db = databases('nova'), databases('placement')
    fleet = Fleet(nova.NovaCell(nova_db))
    placement('seed', placement_db, fleet.spec())
    return fleet, ['--nova-db', nova_db, '--placement-db', placement_db]


def allocations(state: dict[str, Any], consumer: str) -> dict[str, Any]:
    return state['consumers'][consumer]['allocations']


def test_apply_from_nova_pivots_the_fleet_exactly(offline, tmp_path):
    """Fails when a pinned instance's PCPU is not on its real cell, a VF
    not on its real PF, a floating instance not packed whole on one cell,
    or anything else changed: what nova's database says must be what
    Placement holds after the pivot."""
    fleet, access = offline
    url = access[-1]
    before = placement('dump', url)
    state = ['--state-dir', str(tmp_path / 'state')]
    checked = cli('check', '--json', *access, *state)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    states = {n['node']: n['state']
              for n in json.loads(checked.stdout)['nodes']}
    assert states == {'cmp-a': 'flat', 'cmp-b': 'flat',
                      'cmp-c': 'not_applicable',
                      'other-1': 'not_applicable'}

    applied = cli('apply', '--all', '--yes', *access, *state)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert '2 done, 0 already pivoted, 0 failed' in applied.stdout
    summary = applied.stderr
    assert ("nova's facts: 2 nodes with a layout, 9 instances hinted, "
            '3 left to the packer') in summary, summary
    assert f'consumer {fleet.orphan} holds' in summary
    assert 'knows no instance or migration' in summary
    assert 'has no compute node other-1' in summary
    assert 'records no NUMA topology for node cmp-c' in summary

    after = placement('dump', url)
    _assert_exact(fleet, after)
    _assert_nothing_else_changed(fleet, before, after)
    _assert_novas_max_unit(after)

    again = cli('apply', '--all', '--yes', *access, *state)
    assert again.returncode == 0, again.stdout + again.stderr
    assert '0 done, 2 already pivoted, 0 failed' in again.stdout
    assert placement('dump', url)['consumers'] == after['consumers']

    back = cli('rollback', 'cmp-b', '--yes', *access, *state)
    assert back.returncode == 0 and 'rolled back to flat' in back.stdout
    status = cli('status', 'cmp-b', *access, *state)
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.startswith('cmp-b (') and ': flat' in status.stdout
    rolled = placement('dump', url)
    assert set(allocations(rolled, fleet.r1)) == {'cmp-b'}


def _assert_exact(fleet: Fleet, state: dict[str, Any]) -> None:
    a = 'cmp-a'
    numa0, numa1 = f'{a}_NUMA0', f'{a}_NUMA1'
    pf0, pf1 = f'{a}_pci_0000_3b_00_0', f'{a}_pci_0000_af_00_0'
    root = {a: {'DISK_GB': DISK}}
    expected = {
        fleet.p1: {numa1: {'PCPU': 2, 'MEMORY_MB': 2048}},
        fleet.p2: {numa1: {'PCPU': 2, 'MEMORY_MB': 1024}},
        fleet.p3: {numa1: {'PCPU': 2, 'MEMORY_MB': 1024},
                   pf1: {'SRIOV_NET_VF': 1}},
        fleet.e1: {numa0: {'PCPU': 3, 'MEMORY_MB': 1024}},
        fleet.x1: {numa1: {'VCPU': 1, 'PCPU': 1, 'MEMORY_MB': 1024}},
        fleet.m1: {numa0: {'VCPU': 1, 'MEMORY_MB': 1024},
                   numa1: {'VCPU': 1, 'MEMORY_MB': 1024}},
        fleet.mig: {numa1: {'PCPU': 2, 'MEMORY_MB': 1024}},
        fleet.r1: {'cmp-b_NUMA1': {'PCPU': 2, 'MEMORY_MB': 1024},
                   'cmp-b': {'DISK_GB': DISK}},
    }
    for consumer, where in expected.items():
        want = dict(where)
        if fleet.consumers[consumer]['node'] == a:
            want.update(root)
        assert allocations(state, consumer) == want, consumer
    v1 = allocations(state, fleet.v1)
    assert v1[pf0] == v1[pf1] == {'SRIOV_NET_VF': 1}
    for consumer in (fleet.f1, fleet.f2, fleet.f3, fleet.orphan, fleet.v1):
        cells = {p: r for p, r in allocations(state, consumer).items()
                 if '_NUMA' in p}
        assert len(cells) == 1, (consumer, cells)  # packed on one cell
        assert set(next(iter(cells.values()))) == {'VCPU', 'MEMORY_MB'}
    providers = state['providers']
    assert providers[pf0]['parent'] == numa0
    assert providers[pf1]['parent'] == numa1
    assert 'CUSTOM_PHYSNET_PHYSNET1' in providers[pf1]['traits']
    assert providers[numa0]['inventory']['MEMORY_MB']['reserved'] == 512
    assert providers[numa0]['inventory']['VCPU']['allocation_ratio'] == 4.0
    assert providers[numa1]['inventory']['PCPU']['total'] == 10
    assert set(providers[a]['inventory']) == {'DISK_GB'}


def _assert_nothing_else_changed(fleet: Fleet, before: dict[str, Any],
                                 after: dict[str, Any]) -> None:
    for name in ('cmp-c', 'other-1'):
        assert after['providers'][name] == before['providers'][name]
    for consumer, was in before['consumers'].items():
        now = after['consumers'][consumer]
        if consumer not in fleet.consumers:  # another test's, on the server
            assert now == was, consumer
            continue
        assert {k: v for k, v in now.items() if k != 'allocations'} == \
            {k: v for k, v in was.items() if k != 'allocations'}
        totals = _totals(was['allocations'])
        if consumer == fleet.p2:  # converted, amount for amount
            totals['PCPU'] = totals.pop('VCPU')
        assert _totals(now['allocations']) == totals, consumer
        if fleet.consumers[consumer]['node'] in ('cmp-c', 'other-1'):
            assert now == was


def _totals(allocations: dict[str, dict[str, int]]) -> dict[str, int]:
    found: dict[str, int] = {}
    for resources in allocations.values():
        for rc, n in resources.items():
            found[rc] = found.get(rc, 0) + n
    return found


def test_online_from_nova_with_nova_conf(tmp_path):
    """Fails when the online CLI (nova.conf's [placement] credentials and
    its database connections, one file) does not pivot from nova's facts
    as the offline one does."""
    url = os.environ.get('NESTED_PIVOT_PLACEMENT_URL_POSTGRESQL')
    if not url:
        if os.environ.get('CI'):
            pytest.fail('no Placement server: run under tools/placement-'
                        'server run --db all')
        pytest.skip('no Placement server')
    nova_db = f'sqlite:///{tmp_path}/nova.db'
    fleet = Fleet(nova.NovaCell(nova_db))
    # Every cell is read, through the API database's cell mappings: a
    # node Placement has and no cell has (other-1) is then nova's unknown
    # one, left as it is, and not a node of a cell left unread.
    api_db = f'sqlite:///{tmp_path}/api.db'
    nova.api_database(api_db, {'cell1': nova_db})
    adapter = harness.http_placement(url)
    roots = placement_io.seed_spec(adapter, fleet.spec())
    for root in roots.values():
        seed.mark_hook(adapter, root)  # their computes run the hook
    before = placement_io.dump(adapter)
    with harness.FaultProxy(url) as proxy:
        proxy.set_headers = {'X-Roles': 'admin,service'}
        conf = tmp_path / 'nova.conf'
        conf.write_text(f'[placement]\nauth_type = admin_token\n'
                        f'endpoint = {proxy.url}\ntoken = admin\n'
                        f'[database]\nconnection = {nova_db}\n'
                        f'[api_database]\nconnection = {api_db}\n')
        access = ['--from-nova', '--config-file', str(conf), '--state-dir',
                  str(tmp_path / 'state')]
        planned = cli('plan', 'cmp-a', *access)
        assert planned.returncode == 0, planned.stdout + planned.stderr
        assert f'{fleet.p1[:8]}' in planned.stdout
        applied = cli('apply', '--all', '--yes', *access)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        checked = cli('check', *access)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    after = placement_io.dump(adapter)
    _assert_exact(fleet, after)
    _assert_nothing_else_changed(fleet, before, after)


def _assert_novas_max_unit(state: dict) -> None:
    """Fails when a child made from nova's facts lets one instance take
    more than the child has (Placement's default max_unit): nova's
    libvirt driver reports max_unit = total."""
    children = [p for p in state['providers'].values() if p['parent']]
    assert children
    for child in children:
        for rc, record in child['inventory'].items():
            assert record['max_unit'] <= record['total'], (child, rc)
