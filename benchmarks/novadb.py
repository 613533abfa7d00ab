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

"""Pivots from nova's own database: how long reading the facts takes, and
the fast-forward upgrade window of ``apply --all --from-nova`` offline.

1. *read*: a nova cell database (nova's migrations, rows written through
   nova's objects) with N nodes of 40 instances each: the facts read with
   :func:`nested_pivot.novadb.read` in process, built into layouts, and
   ``nested-pivot discover --nova-db`` whole (start-up included).  On a
   SQLite file, and on the PostgreSQL server when there is one.
2. *apply*: the same shape for M nodes, nova's database and Placement's
   both on the PostgreSQL server, Placement seeded with the matching flat
   allocations; ``nested-pivot apply --all --yes --from-nova --nova-db ...
   --placement-db ...`` timed whole, as nodes per minute, projected to
   10,000 nodes.

Run under a PostgreSQL server (``tox -e bench`` does), by hand::

    PYTHON=$(command -v python) bash tools/placement-server run -- \\
        python -m benchmarks.novadb [--quick]

Figures only: nothing asserts a timing.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any
import uuid as uuidlib

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.functional import harness  # noqa: E402
from tests.nova_db import cells as nova  # noqa: E402
from tests.nova_db.cells import Cell  # noqa: E402

SCRIPT = str(Path(sys.executable).with_name('nested-pivot'))
RESULTS = ROOT / 'benchmarks' / 'results' / 'novadb.json'
DB_VAR = 'NESTED_PIVOT_PLACEMENT_DB_POSTGRESQL'
INSTANCES = 40
PROJECTED = 10_000
PFS = {'0000:3b:00.0': (0, 16), '0000:af:00.0': (1, 16)}
CELLS = [(32, 16, 96 * 1024), (32, 16, 96 * 1024)]


def instance_shape(index: int) -> tuple[list[Cell] | None,
                                        dict[str, int] | None]:
    """Of every 8 instances: 2 pinned (2 dedicated CPUs, alternating
    cells), 1 two-cell guest, 1 floating with a VF, 4 floating."""
    kind = index % 8
    cell = (index // 8) % 2
    if kind in (0, 1):
        return [Cell(cell, pcpus=2, memory_mb=2048)], None
    if kind == 2:
        return [Cell(0, vcpus=1, memory_mb=1024),
                Cell(1, vcpus=1, memory_mb=1024)], None
    if kind == 3:
        return None, {list(PFS)[cell]: 1}
    return None, None


def resources(cells: list[Cell] | None, vfs: dict[str, int] | None
              ) -> dict[str, int]:
    found = {'DISK_GB': 10, 'VCPU': 2, 'MEMORY_MB': 2048}
    if cells:
        found['VCPU'] = sum(c.vcpus for c in cells)
        found['PCPU'] = sum(c.pcpus for c in cells)
        found['MEMORY_MB'] = sum(c.memory_mb for c in cells)
    if vfs:
        found['SRIOV_NET_VF'] = sum(vfs.values())
    return {rc: n for rc, n in found.items() if n}


def flat_root() -> dict[str, Any]:
    return {'VCPU': {'total': 64, 'allocation_ratio': 4.0},
            'PCPU': {'total': 32},
            'MEMORY_MB': {'total': 192 * 1024, 'reserved': 512},
            'DISK_GB': {'total': 4000}, 'SRIOV_NET_VF': {'total': 32}}


def seed_nova(connection: str, nodes: int) -> dict[str, Any]:
    """``nodes`` nodes of 40 instances in the cell database; the
    Placement spec of the matching flat allocations."""
    cell = nova.NovaCell(connection)
    spec: dict[str, Any] = {'nodes': {}}
    for n in range(nodes):
        name = f'bench-{n:04d}'
        host = cell.node(name, CELLS, pfs=PFS)
        consumers = {}
        for i in range(INSTANCES):
            cells, vfs = instance_shape(i)
            uuid = cell.instance(name, cells, vfs=vfs, save=False)
            consumers[uuid] = resources(cells, vfs)
        cell.save(host)
        spec['nodes'][name] = {'inventory': flat_root(),
                               'consumers': consumers}
    return spec


def seed_placement(url: str, spec: dict[str, Any]) -> None:
    """In a process of its own: Placement configures one database per
    process."""
    with tempfile.NamedTemporaryFile('w', suffix='.json') as out:
        json.dump(spec, out)
        out.flush()
        subprocess.run([sys.executable, '-m', 'benchmarks.novadb',
                        '--seed-placement', url, out.name], check=True,
                       cwd=ROOT)


def _seed_placement(url: str, path: str) -> None:
    from tests.functional import seed

    spec = json.loads(Path(path).read_text())
    conf = harness.configure_database(url)
    with harness.direct_placement(conf) as adapter:
        for name, node in spec['nodes'].items():
            root = seed.flat_node(adapter, name, node['inventory'])
            body = {c: {'allocations': {root: {'resources': r}},
                        'project_id': str(uuidlib.UUID(int=1)),
                        'user_id': str(uuidlib.UUID(int=2)),
                        'consumer_generation': None,
                        'consumer_type': 'INSTANCE'}
                    for c, r in node['consumers'].items()}
            seed.call(adapter, 'POST', '/allocations', body)


def timed(command: list[str]
          ) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True,
                          cwd=ROOT, check=False)
    return time.perf_counter() - start, proc


def read_figures(connection: str, nodes: int, label: str
                 ) -> dict[str, Any]:
    from nested_pivot import novadb

    reads, builds = [], []
    for _ in range(3):
        start = time.perf_counter()
        facts = novadb.read(novadb.Source(connection))
        reads.append(time.perf_counter() - start)
        start = time.perf_counter()
        built = novadb.build(facts)
        builds.append(time.perf_counter() - start)
    seconds, proc = timed([SCRIPT, 'discover', '--nova-db', connection,
                           '--json'])
    assert proc.returncode == 0, proc.stderr
    assert built.summary.nodes == nodes, built.summary.lines()
    return {'database': label, 'nodes': nodes,
            'instances': nodes * INSTANCES,
            'read_s': round(statistics.median(reads), 2),
            'build_s': round(statistics.median(builds), 2),
            'discover_s': round(seconds, 2),
            'hinted': built.summary.hinted, 'packed': built.summary.packed}


def apply_figures(server: str, nodes: int) -> dict[str, Any]:
    nova_db = harness.create_database(server, 'np_bench_nova_'
                                      + uuidlib.uuid4().hex[:8])
    placement_db = harness.create_database(server, 'np_bench_placement_'
                                           + uuidlib.uuid4().hex[:8])
    try:
        spec = seed_nova(nova_db, nodes)
        seed_placement(placement_db, spec)
        read = read_figures(nova_db, nodes, 'PostgreSQL')
        checked, proc = timed([SCRIPT, 'discover', '--json', '--nova-db',
                               nova_db, '--placement-db', placement_db])
        assert proc.returncode == 0, proc.stderr
        load = os.getloadavg()[0]
        with tempfile.TemporaryDirectory() as state:
            seconds, proc = timed([
                SCRIPT, 'apply', '--all', '--yes', '--nova-db', nova_db,
                '--placement-db', placement_db, '--state-dir', state])
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
        assert f'{nodes} done' in proc.stdout, proc.stdout[-2000:]
        rate = nodes / seconds * 60
        return {'read': read, 'apply': {
            'nodes': nodes, 'instances': nodes * INSTANCES,
            'wall_s': round(seconds, 1), 'nodes_per_min': round(rate, 1),
            'checked_s': round(checked, 1),
            'load_before': round(load, 2),
            'load_after': round(os.getloadavg()[0], 2),
            'projected_h': round(PROJECTED / rate / 60, 2)}}
    finally:
        harness.drop_database(nova_db)
        harness.drop_database(placement_db)


def table(results: dict[str, Any]) -> list[str]:
    lines = ['database | nodes | instances | read s | build s | discover '
             's | hinted | packed']
    for row in results['read']:
        lines.append(' | '.join(str(row[k]) for k in (
            'database', 'nodes', 'instances', 'read_s', 'build_s',
            'discover_s', 'hinted', 'packed')))
    apply = results.get('apply')
    if apply:
        lines += ['', 'apply --all --from-nova offline (PostgreSQL) | nodes '
                  '| wall s | nodes/min | 10,000 nodes h | facts checked '
                  'against Placement s | load before/after',
                  f"| {apply['nodes']} | {apply['wall_s']} | "
                  f"{apply['nodes_per_min']} | {apply['projected_h']} | "
                  f"{apply['checked_s']} | {apply['load_before']}/"
                  f"{apply['load_after']}"]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--quick', action='store_true',
                        help='10 nodes to read, 20 to apply')
    parser.add_argument('--seed-placement', nargs=2,
                        help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()  # tox -e bench passes its own
    if args.seed_placement:
        _seed_placement(*args.seed_placement)
        return
    read_nodes, apply_nodes = (10, 20) if args.quick else (100, 200)
    results: dict[str, Any] = {'read': []}
    with tempfile.TemporaryDirectory() as tmp:
        url = f'sqlite:///{tmp}/nova.db'
        seed_nova(url, read_nodes)
        results['read'].append(read_figures(url, read_nodes, 'SQLite'))
    server = os.environ.get(DB_VAR)
    if server:
        found = apply_figures(server, apply_nodes)
        results['read'].append(found['read'])
        results['apply'] = found['apply']
    else:
        print(f'novadb: ${DB_VAR} not set: no PostgreSQL, no apply figure',
              file=sys.stderr)
    if not args.quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True))
    print('\n'.join(table(results)))


if __name__ == '__main__':
    main()
