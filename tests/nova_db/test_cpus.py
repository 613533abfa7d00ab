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

"""The CPU rules nova applies today, from nova's facts, and a database
nested_pivot never writes.

cpu-a holds what a cloud upgraded through Train holds: pinned instances
with an isolated emulator thread whose PCPU Train's reshape swapped one for
one (one of them never reshaped at all), a mixed instance, an instance
pinned before Victoria whose NUMA record keeps its dedicated CPUs in
``cpuset``, an instance with a pre-Liberty NUMA record, a hugepage
instance without pinning, a VF user, and records nova's objects rewrite
when they load them (a compute node without its ratio, a PCI device and a
migration without uuids).  Three nodes cannot be pivoted correctly: an
isolated-threads instance on an SMT host, an unpinned instance on a host
with only dedicated CPUs, a hugepage instance on a cell without shared
CPUs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlalchemy

from tests.nova_db import cells as nova
from tests.nova_db.cells import Cell
from tests.nova_db.test_bad_facts import _node as node_of
from tests.nova_db.test_from_nova import cli
from tests.nova_db.test_from_nova import DISK
from tests.nova_db.test_from_nova import flat_root
from tests.nova_db.test_from_nova import FLOATING
from tests.nova_db.test_from_nova import held
from tests.nova_db.test_from_nova import placement

with __import__('warnings').catch_warnings():
    __import__('warnings').simplefilter('ignore')
    from nova.db.main import api as main_db

PF = '0000:3b:00.0'
TWO = [(4, 8, 16384), (4, 8, 16384)]


class CpuFleet:
    def __init__(self, tmp: Path) -> None:
        self.nova_db = f'sqlite:///{tmp}/nova.db'
        self.placement_db = f'sqlite:///{tmp}/placement.db'
        cell = self.cell = nova.NovaCell(self.nova_db)
        self.roots = {
            'cpu-a': flat_root(cell.node('cpu-a', TWO, pfs={PF: (0, 2)}),
                               vfs=2),
            'smt-b': flat_root(cell.node('smt-b', [(4, 8, 16384)],
                                         threads=2)),
            'ded-c': flat_root(cell.node('ded-c', [(0, 8, 16384),
                                                   (0, 8, 16384)])),
            'page-d': flat_root(cell.node('page-d', [(4, 8, 16384),
                                                     (0, 8, 16384)]))}
        cell.node('cpu-z', TWO)  # in nova only: a move's destination
        self.consumers: dict[str, tuple[str, dict[str, int]]] = {}
        isolated = [Cell(1, pcpus=2, memory_mb=1024)]
        self.i1 = self.add('cpu-a', isolated, held(isolated),
                           emulator_isolate=True)  # Train: PCPU=2
        isolated0 = [Cell(0, pcpus=2, memory_mb=1024)]
        self.i2 = self.add('cpu-a', isolated0,
                           held(isolated0, converted=False),
                           emulator_isolate=True)  # never reshaped
        mixed = [Cell(0, vcpus=1, pcpus=2, memory_mb=1024)]
        self.m1 = self.add('cpu-a', mixed, held(mixed))
        legacy = [Cell(1, pcpus=2, memory_mb=1024)]
        self.l1 = self.add('cpu-a', legacy, held(legacy))
        liberty = [Cell(1, vcpus=2, memory_mb=1024)]
        self.u1 = self.add('cpu-a', liberty, held(liberty))
        pages = [Cell(1, vcpus=2, memory_mb=2048, pagesize=2048)]
        self.p1 = self.add('cpu-a', pages, held(pages))
        self.v1 = self.add('cpu-a', None, dict(FLOATING, SRIOV_NET_VF=1),
                           vfs={PF: 1})
        self.f2 = self.add('cpu-a', None, FLOATING)
        cell.migration(self.f2, 'cpu-a', 'cpu-z', None, None,
                       status='migrating', kind='migration')
        threads = [Cell(0, pcpus=2, memory_mb=1024)]
        self.t1 = self.add('smt-b', threads, held(threads),
                           thread_policy='isolate')
        pinned = [Cell(0, pcpus=2, memory_mb=1024)]
        self.d1 = self.add('ded-c', pinned, held(pinned))
        self.d2 = self.add('ded-c', None, FLOATING)
        huge = [Cell(1, vcpus=2, memory_mb=1024, pagesize=2048)]
        self.h1 = self.cell.instance('page-d', huge, pin=False)
        self.consumers[self.h1] = ('page-d', held(huge))
        self._legacy_records()

    def add(self, node: str, cells: list[Cell] | None,
            resources: dict[str, int], **kwargs: Any) -> str:
        uuid = self.cell.instance(node, cells, **kwargs)
        self.consumers[uuid] = (node, resources)
        return uuid

    def _legacy_records(self) -> None:
        """Rows as old releases left them, which nova's objects rewrite
        when they load them."""
        ctx = self.cell.ctx
        blob = json.loads(main_db.instance_extra_get_by_instance_uuid(
            ctx, self.l1, columns=['numa_topology'])['numa_topology'])
        for cell in blob['nova_object.data']['cells']:
            data = cell['nova_object.data']
            data['cpuset'] = data.pop('pcpuset')  # pre-Victoria: 1.4
            cell['nova_object.version'] = '1.4'
        main_db.instance_extra_update_by_uuid(
            ctx, self.l1, {'numa_topology': json.dumps(blob)})
        main_db.instance_extra_update_by_uuid(ctx, self.u1, {
            'numa_topology': json.dumps({'cells': [
                {'id': 1, 'cpus': '0,1', 'mem': {'total': 1024}}]})})
        engine = sqlalchemy.create_engine(self.nova_db)
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(
                "UPDATE compute_nodes SET cpu_allocation_ratio = 0.0 "
                "WHERE hypervisor_hostname = 'cpu-a'"))
            conn.execute(sqlalchemy.text(
                f"UPDATE pci_devices SET uuid = NULL WHERE address = '{PF}'"))
            conn.execute(sqlalchemy.text(
                f"UPDATE migrations SET uuid = NULL WHERE instance_uuid = "
                f"'{self.f2}'"))
        engine.dispose()

    def spec(self) -> dict[str, Any]:
        nodes: dict[str, Any] = {n: {'inventory': inv, 'consumers': {}}
                                 for n, inv in self.roots.items()}
        for uuid, (node, resources) in self.consumers.items():
            nodes[node]['consumers'][uuid] = {'resources': resources}
        return {'nodes': nodes}


def database(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of a database, to compare."""
    engine = sqlalchemy.create_engine(url)
    try:
        meta = sqlalchemy.MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            return {name: sorted(tuple(map(str, row)) for row in
                                 conn.execute(table.select()))
                    for name, table in sorted(meta.tables.items())}
    finally:
        engine.dispose()


def _cell(allocations: dict[str, Any], node: str) -> tuple[str, Any]:
    cells = [(p, r) for p, r in allocations.items() if '_NUMA' in p]
    assert len(cells) == 1 and cells[0][0].startswith(node), allocations
    return cells[0]


def test_todays_cpu_rules_from_nova_and_nova_is_never_written(tmp_path):
    """Fails when a pinned instance does not end with what nova's
    scheduler asks today on the cell it is pinned to, when a heal is not
    named with before and after in plan, --json and the journal, when an
    old NUMA record is read wrong, when a node no pivot can hold is not
    refused naming the instance, class and numbers (or is changed), or
    when nova's database is written."""
    fleet = CpuFleet(tmp_path)
    placement('seed', fleet.placement_db, fleet.spec())
    state_dir = tmp_path / 'state'
    access = ['--nova-db', fleet.nova_db, '--placement-db',
              fleet.placement_db, '--state-dir', str(state_dir)]
    nova_before = database(fleet.nova_db)
    before = placement('dump', fleet.placement_db)

    planned = cli('plan', 'cpu-a', '--json', *access)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    plan = json.loads(planned.stdout)['nodes'][0]
    changes = {c['consumer']: c for c in plan['changes']}
    assert set(changes) == {fleet.i1, fleet.i2}
    assert changes[fleet.i1]['before']['PCPU'] == 2
    assert changes[fleet.i2]['before']['VCPU'] == 2
    for consumer in (fleet.i1, fleet.i2):
        assert changes[consumer]['after']['PCPU'] == 3
        assert 'VCPU' not in changes[consumer]['after']
        assert ("nova's scheduler asks PCPU=3 for flavor f2 with "
                'hw:cpu_policy=dedicated and '
                'hw:emulator_threads_policy=isolate') in \
            changes[consumer]['why']
    assert {(h['consumer'], h['resource_class'], h['amount'])
            for h in plan['heals']} == {(fleet.i1, 'PCPU', 1),
                                        (fleet.i2, 'PCPU', 1)}
    assert 'healed: node cpu-a: instance' in planned.stderr

    applied = cli('apply', '--all', '--yes', *access)
    assert applied.returncode == 2, applied.stdout + applied.stderr
    out = ' '.join(applied.stdout.split())
    assert 'cpu-a done' in out
    assert (f'node smt-b: instance {fleet.t1} has hw:cpu_thread_policy='
            'isolate on host cell 0, whose cores have 2 threads: it keeps '
            "4 host CPUs there (2 pinned and their siblings), but nova's "
            'scheduler asks PCPU=2') in out
    assert (f'node ded-c: instance {fleet.d2} holds VCPU=1, but no host '
            'cell of the node has shared CPUs') in out
    assert f'instance {fleet.d1}' not in out.split('ded-c', 1)[1][:400]
    assert (f'node page-d: instance {fleet.h1} uses VCPU=2 on host cell 1, '
            "where nova's cell database records no shared CPUs") in out

    after = placement('dump', fleet.placement_db)
    got = {c: e['allocations'] for c, e in after['consumers'].items()}
    root = {'cpu-a': {'DISK_GB': DISK}}
    assert got[fleet.i1] == {'cpu-a_NUMA1': {'PCPU': 3, 'MEMORY_MB': 1024},
                             **root}
    assert got[fleet.i2] == {'cpu-a_NUMA0': {'PCPU': 3, 'MEMORY_MB': 1024},
                             **root}
    assert got[fleet.m1] == {'cpu-a_NUMA0': {'VCPU': 1, 'PCPU': 2,
                                             'MEMORY_MB': 1024}, **root}
    assert got[fleet.l1] == {'cpu-a_NUMA1': {'PCPU': 2, 'MEMORY_MB': 1024},
                             **root}
    assert got[fleet.u1] == {'cpu-a_NUMA1': {'VCPU': 2, 'MEMORY_MB': 1024},
                             **root}
    assert got[fleet.p1] == {'cpu-a_NUMA1': {'VCPU': 2, 'MEMORY_MB': 2048},
                             **root}
    assert got[fleet.v1]['cpu-a_pci_0000_3b_00_0'] == {'SRIOV_NET_VF': 1}
    for consumer in (fleet.v1, fleet.f2):
        assert _cell(got[consumer], 'cpu-a')[1] == {'VCPU': 1,
                                                    'MEMORY_MB': 512}
    for name in ('smt-b', 'ded-c', 'page-d'):
        assert node_of(after, name) == node_of(before, name), name

    [preimage] = [json.loads(p.read_text())
                  for p in state_dir.glob('*/*-pre-image.json')]
    journaled = {c['consumer']: c for c in preimage['changes']}
    assert set(journaled) == {fleet.i1, fleet.i2}
    assert journaled[fleet.i1]['before']['PCPU'] == 2
    assert journaled[fleet.i1]['after']['PCPU'] == 3

    assert database(fleet.nova_db) == nova_before
