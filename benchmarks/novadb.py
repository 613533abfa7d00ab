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
   --placement-db ... --concurrency C`` timed whole for C = 1, 2 and 4,
   each on a copy of the same Placement database, as nodes per minute,
   projected to 10,000 nodes, with the CPU of the command (its workers
   included) and of PostgreSQL.  Beside them the floor: the reshaper calls
   alone, one node after the other (:func:`floor`).

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

from benchmarks import ffu  # noqa: E402
from benchmarks import fleet  # noqa: E402
from tests.functional import harness  # noqa: E402
from tests.nova_db import cells as nova  # noqa: E402
from tests.nova_db.cells import Cell  # noqa: E402

SCRIPT = str(Path(sys.executable).with_name('nested-pivot'))
RESULTS = ROOT / 'benchmarks' / 'results' / 'novadb.json'
DB_VAR = 'NESTED_PIVOT_PLACEMENT_DB_POSTGRESQL'
INSTANCES = 40
PROJECTED = 10_000
CONCURRENCY, QUICK_CONCURRENCY = (1, 2, 4), (1, 2)
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


def apply_figures(server: str, nodes: int, concurrency: tuple[int, ...]
                  ) -> dict[str, Any]:
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
        runs = [_apply(server, nova_db, placement_db, nodes, c)
                for c in concurrency]
        reshaped = _copied(server, placement_db, lambda url: json.loads(
            ffu.child_of('benchmarks.novadb', '--floor', nova_db, url)))
        return {'read': read, 'apply': runs[0], 'concurrency': runs,
                'checked_s': round(checked, 1),
                'floor': dict(reshaped, nodes=nodes, nodes_per_min=round(
                    60 * nodes / reshaped['reshape_s'], 1))}
    finally:
        harness.drop_database(nova_db)
        harness.drop_database(placement_db)


def _copied(server: str, template: str, func: Any) -> Any:
    """``func(url)`` on a copy of the database ``template``."""
    url = ffu.copy(server, template, 'np_bench_copy_'
                   + uuidlib.uuid4().hex[:8])
    try:
        return func(url)
    finally:
        harness.drop_database(url)


def _apply(server: str, nova_db: str, placement_db: str, nodes: int,
           concurrency: int) -> dict[str, Any]:
    """``apply --all --from-nova`` offline, whole, on a copy."""
    def run(url: str) -> dict[str, Any]:
        load = os.getloadavg()[0]
        database_cpu = fleet.server_cpu()
        with tempfile.TemporaryDirectory() as state:
            found = ffu.measured([
                SCRIPT, 'apply', '--all', '--yes', '--json', '--nova-db',
                nova_db, '--placement-db', url, '--state-dir', state,
                '--concurrency', str(concurrency)], Path(state), 'apply')
        database_cpu = fleet.server_cpu() - database_cpu
        document = json.loads(found['stdout'])
        done = sum(n['result'] == 'done' for n in document['nodes'])
        assert done == nodes, found['stdout'][-2000:] + found['stderr']
        seconds = found['wall_s']
        rate = nodes / seconds * 60
        print(f'  novadb apply c={concurrency}: {seconds:.1f} s, '
              f'{rate:.1f} nodes/min', file=sys.stderr, flush=True)
        return {
            'concurrency': concurrency, 'nodes': nodes,
            'instances': nodes * INSTANCES, 'wall_s': round(seconds, 1),
            'nodes_per_min': round(rate, 1),
            'client_cpu_s': round(found['cpu_s'], 1),
            'database_cpu_s': round(database_cpu, 1),
            'peak_rss_mib': round(found['peak_rss_mib']),
            'retries': sum(n['retries'] for n in document['nodes']),
            'load_before': round(load, 2),
            'load_after': round(os.getloadavg()[0], 2),
            'projected_h': round(PROJECTED / rate / 60, 2)}

    return dict(_copied(server, placement_db, run))


def floor(nova_db: str, url: str) -> None:
    """The reshaper calls alone: every node planned from nova's facts
    and its children made (not timed), then each reshape through the
    database layer timed, one node after the other."""
    from nested_pivot import novadb
    from nested_pivot.cmd import access
    from nested_pivot.placement import operations
    from nested_pivot.placement import writes
    from nested_pivot.service import views

    with access.client([], url) as client:
        assert client.database is not None
        rules = views.layouts(novadb.Source(nova_db), client).layouts
        seconds = 0.0
        reshaped = 0
        for _, name in client.database.roots():
            rule = rules.rule_for(name)
            if rule is None:
                continue
            _, plan = operations.read_and_plan(client, name, rule.layout,
                                               rule.hints.get(name))
            writes.create_children(client, plan)
            _, plan = operations.read_and_plan(client, name, rule.layout,
                                               rule.hints.get(name))
            start = time.perf_counter()
            answer = client.database.reshape(plan)
            seconds += time.perf_counter() - start
            assert answer.ok, answer.body
            reshaped += 1
    print(json.dumps({'reshape_s': round(seconds, 2),
                      'reshaped': reshaped}))


def table(results: dict[str, Any]) -> list[str]:
    lines = ['database | nodes | instances | read s | build s | discover '
             's | hinted | packed']
    for row in results['read']:
        lines.append(' | '.join(str(row[k]) for k in (
            'database', 'nodes', 'instances', 'read_s', 'build_s',
            'discover_s', 'hinted', 'packed')))
    runs = results.get('concurrency') or []
    if runs:
        lines += ['', 'apply --all --from-nova offline (PostgreSQL) | '
                  'concurrency | wall s | nodes/min | 10,000 nodes h | '
                  'client CPU s | PostgreSQL CPU s | peak RSS MiB | '
                  'retries | load before/after']
        lines += [f"| {r['nodes']} | {r['concurrency']} | {r['wall_s']} | "
                  f"{r['nodes_per_min']} | {r['projected_h']} | "
                  f"{r['client_cpu_s']} | {r['database_cpu_s']} | "
                  f"{r['peak_rss_mib']} | {r['retries']} | "
                  f"{r['load_before']}/{r['load_after']}" for r in runs]
        floor = results['floor']
        lines += ['', f"floor, the reshaper calls alone: {floor['nodes']} "
                  f"nodes in {floor['reshape_s']} s, "
                  f"{floor['nodes_per_min']} nodes/min; facts checked "
                  f"against Placement in {results['checked_s']} s"]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--quick', action='store_true',
                        help='10 nodes to read, 20 to apply')
    parser.add_argument('--seed-placement', nargs=2,
                        help=argparse.SUPPRESS)
    parser.add_argument('--floor', nargs=2, help=argparse.SUPPRESS)
    parser.add_argument('--only', action='append', default=[],
                        help="benchmarks.run's sections (tox passes the "
                             "same arguments to each script): this one "
                             "runs with novadb, or with none given")
    args, _ = parser.parse_known_args()  # tox -e bench passes its own
    if args.only and 'novadb' not in args.only:
        return
    if args.seed_placement:
        _seed_placement(*args.seed_placement)
        return
    if args.floor:
        floor(*args.floor)
        return
    read_nodes, apply_nodes = (10, 20) if args.quick else (100, 200)
    results: dict[str, Any] = {'read': []}
    with tempfile.TemporaryDirectory() as tmp:
        url = f'sqlite:///{tmp}/nova.db'
        seed_nova(url, read_nodes)
        results['read'].append(read_figures(url, read_nodes, 'SQLite'))
    server = os.environ.get(DB_VAR)
    if server:
        found = apply_figures(server, apply_nodes, QUICK_CONCURRENCY
                              if args.quick else CONCURRENCY)
        results['read'].append(found.pop('read'))
        results.update(found)
    else:
        print(f'novadb: ${DB_VAR} not set: no PostgreSQL, no apply figure',
              file=sys.stderr)
    if not args.quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True))
    print('\n'.join(table(results)))


if __name__ == '__main__':
    main()
