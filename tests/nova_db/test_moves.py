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

"""Migrations in flight, pivoted from nova's migration records.

A real cell database holds, as nova's conductor and computes write them:
a resize waiting for confirmation from src-a to dst-b, a cold migration
the other way (so that each node is pivoted once before and once after
the other side of a move), a same-host resize on src-a, an evacuation from
evac-c (its compute down, the evacuation done: the instance holds
allocations on both nodes, its migration context gone) and a live
migration from src-a to dst-b in progress.  Real Placement holds the
allocations nova holds for them: the migration consumers (one typed, one
untyped as nova writes them) on the sources, the instances on the
destinations.

Each node is pivoted alone; then nova's own report client confirms one
move and reverts two, as nova-compute does.  Every amount must stay
right.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.nova_db import cells as nova
from tests.nova_db.cells import Cell
from tests.nova_db.test_from_nova import cli
from tests.nova_db.test_from_nova import DISK
from tests.nova_db.test_from_nova import flat_root
from tests.nova_db.test_from_nova import held
from tests.nova_db.test_from_nova import placement

SHAPE = [(4, 8, 16384), (4, 8, 16384)]


def _pinned(cell: int, pcpus: int, memory_mb: int) -> list[Cell]:
    return [Cell(cell, pcpus=pcpus, memory_mb=memory_mb)]


class Moves:
    """The nodes, nova's records and Placement's allocations of the
    moves in progress (see the module's docstring)."""

    def __init__(self, tmp: Path) -> None:
        self.nova_db = f'sqlite:///{tmp}/nova.db'
        self.placement_db = f'sqlite:///{tmp}/placement.db'
        cell = nova.NovaCell(self.nova_db)
        self.roots = {n: flat_root(cell.node(n, SHAPE))
                      for n in ('src-a', 'dst-b', 'evac-c')}
        self.on: dict[str, dict[str, Any]] = {}
        self.types: dict[str, str | None] = {}

        old, new = _pinned(1, 2, 1024), _pinned(0, 4, 2048)
        self.r1 = cell.instance('src-a', old)
        self.mig1 = cell.migration(self.r1, 'src-a', 'dst-b', None, new,
                                   new_flavor=nova.flavor(new, name='f4'))
        self.hold(self.mig1, 'MIGRATION', {'src-a': old})
        self.hold(self.r1, 'INSTANCE', {'dst-b': new})

        old, new = _pinned(1, 2, 1024), _pinned(0, 2, 1024)
        self.r2 = cell.instance('dst-b', old)
        self.mig2 = cell.migration(self.r2, 'dst-b', 'src-a', None, new,
                                   kind='migration')
        self.hold(self.mig2, 'MIGRATION', {'dst-b': old})
        self.hold(self.r2, 'INSTANCE', {'src-a': new})

        old, new = _pinned(1, 1, 512), _pinned(0, 2, 1024)
        self.s = cell.instance('src-a', old)
        self.msame = cell.migration(self.s, 'src-a', 'src-a', None, new,
                                    new_flavor=nova.flavor(new, name='f2'))
        self.hold(self.msame, 'MIGRATION', {'src-a': old})
        self.hold(self.s, 'INSTANCE', {'src-a': new})

        old, new = _pinned(0, 2, 1024), _pinned(1, 2, 1024)
        self.e = cell.instance('evac-c', old)
        self.evacuation = cell.migration(
            self.e, 'evac-c', 'dst-b', None, new, status='done',
            kind='evacuation', keep_context=False)
        self.hold(self.e, 'INSTANCE', {'evac-c': old, 'dst-b': new})

        old, new = _pinned(1, 2, 1024), _pinned(0, 2, 1024)
        self.live = cell.instance('src-a', old)
        self.mlive = cell.migration(self.live, 'src-a', 'dst-b', None, new,
                                    status='running', kind='live-migration')
        self.hold(self.mlive, None, {'src-a': old})  # untyped, as nova does
        self.hold(self.live, 'INSTANCE', {'dst-b': new})

        placement('seed', self.placement_db, {
            'nodes': {n: {'inventory': inv} for n, inv in self.roots.items()},
            'consumers': {c: {'type': self.types[c], 'on': on}
                          for c, on in self.on.items()}})
        self.access = ['--nova-db', self.nova_db, '--placement-db',
                       self.placement_db, '--state-dir', str(tmp / 'state')]

    def hold(self, consumer: str, kind: str | None,
             where: dict[str, list[Cell]]) -> None:
        self.on[consumer] = {node: held(cells)
                             for node, cells in where.items()}
        self.types[consumer] = kind


@pytest.fixture
def moves(tmp_path: Path) -> Moves:
    return Moves(tmp_path)


def _on(node: str, cell: int, pcpus: int, memory_mb: int
        ) -> dict[str, dict[str, int]]:
    return {f'{node}_NUMA{cell}': {'PCPU': pcpus, 'MEMORY_MB': memory_mb},
            node: {'DISK_GB': DISK}}


def _allocations(state: dict[str, Any]) -> dict[str, Any]:
    return {c: e['allocations'] for c, e in state['consumers'].items()}


def _identity(state: dict[str, Any]) -> dict[str, Any]:
    return {c: {k: v for k, v in e.items() if k != 'allocations'}
            for c, e in state['consumers'].items()}


def _usage(state: dict[str, Any]) -> dict[str, dict[str, int]]:
    usage: dict[str, dict[str, int]] = {}
    for entry in state['consumers'].values():
        for provider, resources in entry['allocations'].items():
            per = usage.setdefault(provider, {})
            for rc, n in resources.items():
                per[rc] = per.get(rc, 0) + n
    return usage


def _evacuated(state: dict[str, Any], e: str) -> dict[str, Any]:
    """The evacuated instance's part on evac-c: one cell, whole."""
    mine = {p: r for p, r in state['consumers'][e]['allocations'].items()
            if p.startswith('evac-c')}
    cells = [p for p in mine if '_NUMA' in p]
    assert len(cells) == 1, mine
    assert mine == {cells[0]: {'PCPU': 2, 'MEMORY_MB': 1024},
                    'evac-c': {'DISK_GB': DISK}}
    return mine


def test_moves_in_progress_pivot_side_by_side_and_end_right(moves):
    """Fails when a migration consumer loses its type, project or user,
    when a side of a move lands anywhere but its own node's cells from
    nova's records, when pivoting one node touches another node's
    allocations, or when nova's own confirm and revert leave a wrong
    amount afterwards."""
    m = moves
    before = placement('dump', m.placement_db)

    planned = cli('plan', 'src-a', *m.access)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    text = ' '.join(planned.stdout.split())
    assert "Moves in progress, from nova's migration records:" in text
    assert (f'{m.mlive} migration of instance {m.live}: live-migration '
            f'{m.mlive} src-a -> dst-b (running): the source side') in text
    assert (f'{m.msame} migration of instance {m.s}: resize {m.msame} on '
            'the same node (finished): the source side') in text
    table = planned.stdout.split(' move:\n', 1)[1].split('\n\n', 1)[0]
    moved = {line.split()[0]: line.split()[1]
             for line in table.splitlines() if line.split()[0] in m.on}
    assert moved[m.mlive] == 'MIGRATION'  # untyped in Placement: nova's

    applied = cli('apply', 'src-a', '--yes', *m.access)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    after_a = placement('dump', m.placement_db)
    got = _allocations(after_a)
    assert got[m.mig1] == _on('src-a', 1, 2, 1024)
    assert got[m.r2] == _on('src-a', 0, 2, 1024)
    assert got[m.msame] == _on('src-a', 1, 1, 512)
    assert got[m.s] == _on('src-a', 0, 2, 1024)
    assert got[m.mlive] == _on('src-a', 1, 2, 1024)
    for untouched in (m.r1, m.mig2, m.e, m.live):  # other nodes' only
        assert got[untouched] == _allocations(before)[untouched]

    plan_b = cli('plan', 'dst-b', '--json', *m.access)
    assert plan_b.returncode == 0, plan_b.stdout + plan_b.stderr
    roles = json.loads(plan_b.stdout)['nodes'][0]['nova']
    assert roles[m.mig2] == (f'migration of instance {m.r2}: migration '
                             f'{m.mig2} dst-b -> src-a (finished): the '
                             'source side')
    assert roles[m.r1] == (f'instance: resize {m.mig1} src-a -> dst-b '
                           '(finished): the destination side')
    applied = cli('apply', 'dst-b', '--yes', *m.access)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    applied = cli('apply', 'evac-c', '--yes', *m.access)
    assert applied.returncode == 0, applied.stdout + applied.stderr

    after = placement('dump', m.placement_db)
    got = _allocations(after)
    assert got[m.r1] == _on('dst-b', 0, 4, 2048)
    assert got[m.mig2] == _on('dst-b', 1, 2, 1024)
    assert got[m.live] == _on('dst-b', 0, 2, 1024)
    assert {p: r for p, r in got[m.e].items() if p.startswith('dst-b')} \
        == _on('dst-b', 1, 2, 1024)
    _evacuated(after, m.e)
    for consumer in (m.mig1, m.r2, m.msame, m.s, m.mlive):
        assert got[consumer] == _allocations(after_a)[consumer]
    assert _identity(after) == _identity(before)
    assert after['consumers'][m.mig1]['consumer_type'] == 'MIGRATION'
    assert after['consumers'][m.mlive]['consumer_type'] in (None, 'unknown')

    done = placement('nova', m.placement_db, {
        'confirm': [m.mig1], 'revert': [[m.mig2, m.r2], [m.msame, m.s]]})
    assert done == {m.mig1: True, m.mig2: True, m.msame: True}
    ended = placement('dump', m.placement_db)
    got = _allocations(ended)
    assert set(got) == {m.r1, m.r2, m.s, m.e, m.live, m.mlive}
    assert got[m.r2] == _on('dst-b', 1, 2, 1024)  # back on its source
    assert got[m.s] == _on('src-a', 1, 1, 512)
    usage = _usage(ended)
    evac_cell = next(p for p in _evacuated(ended, m.e) if '_NUMA' in p)
    assert usage == {
        'src-a': {'DISK_GB': 2 * DISK}, 'dst-b': {'DISK_GB': 4 * DISK},
        'evac-c': {'DISK_GB': DISK},
        'src-a_NUMA1': {'PCPU': 1 + 2, 'MEMORY_MB': 512 + 1024},
        'dst-b_NUMA0': {'PCPU': 4 + 2, 'MEMORY_MB': 2048 + 1024},
        'dst-b_NUMA1': {'PCPU': 2 + 2, 'MEMORY_MB': 1024 + 1024},
        evac_cell: {'PCPU': 2, 'MEMORY_MB': 1024}}
    for name, provider in ended['providers'].items():
        for rc, used in usage.get(name, {}).items():
            record = provider['inventory'][rc]
            assert used <= (record['total'] - record['reserved']) * \
                record['allocation_ratio'], (name, rc)
