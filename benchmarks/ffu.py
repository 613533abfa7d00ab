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

"""The fast-forward-upgrade window, offline (``--placement-db``).

1. *pivot*: one node of N instances, ``nested-pivot apply NODE
   --placement-db ...`` timed as a whole process (start-up included),
   against nova's own flow over Placement in process on a copy of the same
   database, in one run: every instance moving (two NUMA cells) and 5%
   moving (SR-IOV).  On SQLite, and on the PostgreSQL server when there
   is one.
2. *scale*: ``check`` (every node) and ``plan NODE`` offline on 2,500,
   5,000 and 10,000 flat nodes of 10 instances, their time and peak
   memory.

The fleet from nova's database (nodes per minute, ``--concurrency`` 1, 2
and 4, and the floor of the reshaper calls alone) is
:mod:`benchmarks.novadb`.  Run under a PostgreSQL server (``tox -e bench``
does), by hand::

    PYTHON=$(command -v python) bash tools/placement-server run -- \\
        python -m benchmarks.ffu [--quick]

Figures only: nothing asserts a timing.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
import contextlib
import json
import os
from pathlib import Path
import shutil
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

from benchmarks import common  # noqa: E402
from benchmarks import fleet  # noqa: E402
from tests.functional import harness  # noqa: E402

SCRIPT = str(Path(sys.executable).with_name('nested-pivot'))
DB_VAR = 'NESTED_PIVOT_PLACEMENT_DB_POSTGRESQL'
NOVA = 'nova, PlacementDirect'
NOVA_ONCE = 'nova, app built once'
CLI = 'nested-pivot apply'
FLOWS = (CLI, NOVA, NOVA_ONCE)
SIZE, QUICK_SIZE = 500, 200
REPEATS, QUICK_REPEATS = 3, 1
SCALE, QUICK_SCALE = (2500, 5000, 10_000), (250, 500)
SCALE_CONSUMERS = 10


def results_path(quick: bool) -> Path:
    return common.RESULTS / ('ffu-quick.json' if quick else 'ffu.json')


# -- databases ------------------------------------------------------------
@contextlib.contextmanager
def databases(server: str | None, tmp: Path) -> Iterator[dict[str, Any]]:
    """Where the pivots run: a SQLite directory, and the server."""
    found: dict[str, Any] = {'sqlite': tmp}
    if server:
        found['postgresql'] = server
    yield found


def fresh(where: Any, name: str) -> str:
    """A new empty database: a SQLite file, or one on the server."""
    if isinstance(where, Path):
        return f'sqlite:///{where / name}.db'
    return harness.create_database(where, name)


def copy(where: Any, template: str, name: str) -> str:
    """A copy of the database ``template``."""
    if isinstance(where, Path):
        source = Path(template.removeprefix('sqlite:///'))
        target = where / f'{name}.db'
        shutil.copyfile(source, target)
        return f'sqlite:///{target}'
    import sqlalchemy

    url = sqlalchemy.engine.make_url(template)
    engine = sqlalchemy.create_engine(url.set(database='postgres'),
                                      isolation_level='AUTOCOMMIT')
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text(
                f'CREATE DATABASE {name} TEMPLATE {url.database}'))
    finally:
        engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop(url: str) -> None:
    if url.startswith('sqlite:///'):
        Path(url.removeprefix('sqlite:///')).unlink(missing_ok=True)
    else:
        harness.drop_database(url)


def child(*args: str) -> str:
    """This module in a process of its own (Placement configures one
    database per process); its last line of output."""
    return child_of('benchmarks.ffu', *args)


def child_of(module: str, *args: str) -> str:
    """``python -m module args``; its last line of output."""
    proc = subprocess.run([sys.executable, '-m', module, *args],
                          capture_output=True, text=True, cwd=ROOT,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f'{args[0]} failed:\n{proc.stderr[-3000:]}')
    return proc.stdout.strip().splitlines()[-1]


# -- one node -------------------------------------------------------------
def layout_file(case: common.Case, node: str, path: Path) -> Path:
    """A layout file with one rule, for ``node``, of ``case``'s layout."""
    lines = ['layouts:', f'  - match: "{node}"', '    children:']
    for one in case.layout.children:
        inventory = {rc: inv.as_dict() for rc, inv in one.inventory.items()}
        lines += [f'      - name: {one.name}',
                  f'        inventory: {json.dumps(inventory)}',
                  f'        traits: {json.dumps(sorted(one.traits))}']
    path.write_text('\n'.join(lines) + '\n')
    return path


def _seed(url: str, case_name: str, size: str) -> None:
    conf = harness.configure_database(url)
    case = common.CASES[case_name]()
    with harness.direct_placement(conf) as adapter:
        node = common.seed_node(adapter, case, f'ffu-{case_name}', int(size))
    print(json.dumps({'name': node.name, 'root': node.root,
                      'totals': node.totals,
                      'consumers': len(node.consumers)}))


def _nova(url: str, case_name: str, name: str, root: str, once: str) -> None:
    """nova's flow on the node, over Placement in this process; its time
    without nova's imports and configuration."""
    conf = harness.configure_database(url)
    common.nova()
    case = common.CASES[case_name]()
    node = common.Node(name, root, (), {})
    if once == 'yes':
        from nested_pivot.cmd import access

        direct = access.placement_direct(conf)
        context: Any = direct
    else:
        from placement.direct import PlacementDirect

        context = PlacementDirect(conf)
    with context as adapter:
        adapter.session.additional_headers.update(
            harness.ADMIN_SERVICE_HEADERS)
        counter = common.Counter()
        common.counting(adapter, counter)
        start = time.perf_counter()
        movers = common.nova_flow(adapter, node, case.layout)
        print(json.dumps({'pivot_s': time.perf_counter() - start,
                          'movers': movers, 'requests': counter.requests}))


def _check(url: str, case_name: str, name: str, root: str,
           totals: str) -> None:
    conf = harness.configure_database(url)
    case = common.CASES[case_name]()
    with harness.direct_placement(conf) as adapter:
        common.check_pivoted(adapter, case, common.Node(
            name, root, (), json.loads(totals)))
    print('{"checked": true}')


def measured(command: list[str], workdir: Path, label: str,
             codes: tuple[int, ...] = (0,)) -> dict[str, Any]:
    """``command`` run whole; its wall time, CPU, peak RSS and output.
    An exit code not in ``codes`` fails the benchmark."""
    usage = workdir / f'{label}.rusage'
    start = time.perf_counter()
    proc = subprocess.run(fleet.measured(command, usage), cwd=ROOT,
                          capture_output=True, text=True, check=False,
                          stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    found = json.loads(usage.read_text())
    if found['code'] not in codes:
        raise RuntimeError(f'{label} exited {found["code"]}:\n'
                           + proc.stdout[-2000:] + proc.stderr[-2000:])
    return {'wall_s': wall, 'cpu_s': found['cpu'],
            'peak_rss_mib': found['maxrss_kib'] / 1024,
            'stdout': proc.stdout, 'stderr': proc.stderr}


def pivot_runs(where: Any, backend: str, case_name: str, size: int,
               repeats: int, workdir: Path) -> list[dict[str, Any]]:
    """Every flow on a fresh copy of one seeded database, alternating."""
    tag = uuidlib.uuid4().hex[:8]
    template = fresh(where, f'np_ffu_{case_name}_{tag}')
    seeded = json.loads(child('--seed', template, case_name, str(size)))
    layouts = layout_file(common.CASES[case_name](), seeded['name'],
                          workdir / f'{case_name}-{tag}.yaml')
    runs = []
    try:
        for rep in range(repeats):
            for flow in (FLOWS if rep % 2 == 0 else FLOWS[::-1]):
                url = copy(where, template,
                           f'np_ffu_{case_name}_{tag}_{rep}_{FLOWS.index(flow)}')
                try:
                    runs.append(dict(_one(flow, url, case_name, seeded,
                                          layouts, workdir),
                                     backend=backend, case=case_name,
                                     size=size, flow=flow, repeat=rep))
                    child('--check', url, case_name, seeded['name'],
                          seeded['root'], json.dumps(seeded['totals']))
                finally:
                    drop(url)
                print(f'  ffu pivot {backend:10} {case_name:5} {size:5} '
                      f'{flow:22} {runs[-1]["wall_s"]:7.2f} s',
                      file=sys.stderr, flush=True)
    finally:
        drop(template)
    return runs


def _one(flow: str, url: str, case_name: str, seeded: dict[str, Any],
         layouts: Path, workdir: Path) -> dict[str, Any]:
    if flow == CLI:
        state = workdir / f'state-{uuidlib.uuid4().hex[:8]}'
        found = measured([SCRIPT, 'apply', seeded['name'], '--yes',
                          '--json', '--placement-db', url, '--layouts',
                          str(layouts), '--state-dir', str(state)],
                         workdir, 'cli')
        document = json.loads(found.pop('stdout'))
        found.pop('stderr')
        [node] = document['nodes']
        if node['result'] != 'done':
            raise RuntimeError(f'apply: {node}')
        return dict(found, movers=node['consumers'], timed_s=found['wall_s'])
    once = 'yes' if flow == NOVA_ONCE else 'no'
    found = measured([sys.executable, '-m', 'benchmarks.ffu', '--nova', url,
                      case_name, seeded['name'], seeded['root'], once],
                     workdir, 'nova')
    inner = json.loads(found.pop('stdout').strip().splitlines()[-1])
    found.pop('stderr')
    return dict(found, movers=inner['movers'], requests=inner['requests'],
                timed_s=inner['pivot_s'])


def pivot(quick: bool, server: str | None) -> list[dict[str, Any]]:
    size = QUICK_SIZE if quick else SIZE
    repeats = QUICK_REPEATS if quick else REPEATS
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix='np-ffu-') as tmp, \
            databases(server, Path(tmp)) as found:
        for backend, where in found.items():
            for case_name in ('numa', 'sriov'):
                runs += pivot_runs(where, backend, case_name, size, repeats,
                                   Path(tmp))
    return runs


def pivot_summary(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str, int, str], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r['backend'], r['case'], r['size'], r['flow']),
                          []).append(r)
    return [{'backend': b, 'case': c, 'size': n, 'flow': f,
             'wall_s': statistics.median(r['wall_s'] for r in g),
             'timed_s': statistics.median(r['timed_s'] for r in g),
             'peak_rss_mib': max(r['peak_rss_mib'] for r in g),
             'movers': g[0]['movers'], 'runs': len(g)}
            for (b, c, n, f), g in groups.items()]


def pivot_table(runs: list[dict[str, Any]]) -> list[str]:
    rows = pivot_summary(runs)
    index = {(r['backend'], r['case'], r['size'], r['flow']): r
             for r in rows}
    lines = []
    for (backend, case, size, flow), r in sorted(index.items()):
        if flow != CLI:
            continue
        nova = index[(backend, case, size, NOVA)]
        once = index[(backend, case, size, NOVA_ONCE)]
        best = min(nova['timed_s'], once['timed_s'])
        lines.append([backend, case, size, r['movers'], r['wall_s'],
                      nova['timed_s'], once['timed_s'], best / r['wall_s'],
                      nova['wall_s'], r['peak_rss_mib'], r['runs']])
    return common.table(
        ['database', 'case', 'N', 'movers', 'apply process s',
         'nova flow s', 'nova flow, app once s', 'speed-up vs faster nova',
         'nova process s', 'apply peak RSS MiB', 'runs'], lines)


# -- scale ----------------------------------------------------------------
def _grow(url: str, start: str, stop: str) -> None:
    """Flat nodes ``start`` to ``stop`` - 1, written straight into
    Placement's tables in bulk (seeding only: the reads are measured),
    then a sample read through the API and through the database layer,
    which must agree."""
    conf = harness.configure_database(url)
    with harness.direct_placement(conf) as adapter:
        adapter.get('/resource_classes', microversion='1.7')
        _insert(int(start), int(stop))
        _sample(adapter, conf, int(start), int(stop))
    print('{"grown": true}')


SCALE_INVENTORY = {'VCPU': (64, 4.0), 'MEMORY_MB': (262144, 1.0),
                   'DISK_GB': (4000, 1.0)}
SCALE_USE = {'VCPU': 4, 'MEMORY_MB': 8192, 'DISK_GB': 40}


def scale_layout(path: Path) -> Path:
    cell = {'VCPU': {'total': 32, 'allocation_ratio': 4.0},
            'MEMORY_MB': {'total': 131072}}
    path.write_text('layouts:\n  - match: "scale-*"\n    children:\n'
                    + ''.join(f'      - name: NUMA{i}\n        inventory: '
                              f'{json.dumps(cell)}\n'
                              f'        traits: ["HW_NUMA_ROOT"]\n'
                              for i in range(2)))
    return path


def _insert(start: int, stop: int) -> None:
    from placement import context
    from placement import db_api
    from placement.db.sqlalchemy import models
    import sqlalchemy as sa

    ctx = context.RequestContext(config=None)
    with db_api.placement_context_manager.writer.using(ctx) as session:
        project, user, kind = _identities(session, models)
        rp = models.ResourceProvider.__table__
        rows = [{'uuid': str(uuidlib.uuid4()), 'name': f'scale-{i:05d}',
                 'generation': 2} for i in range(start, stop)]
        session.execute(rp.insert(), rows)
        ids = dict(session.execute(sa.select(rp.c.uuid, rp.c.id).where(
            rp.c.name.in_([r['name'] for r in rows]))).all())
        session.execute(rp.update().where(rp.c.id.in_(list(ids.values())))
                        .values(root_provider_id=rp.c.id))
        rc = {name: ctx.rc_cache.id_from_string(name)
              for name in SCALE_INVENTORY}
        session.execute(models.Inventory.__table__.insert(), [
            {'resource_provider_id': i, 'resource_class_id': rc[name],
             'total': total, 'reserved': 0, 'min_unit': 1,
             'max_unit': total, 'step_size': 1, 'allocation_ratio': ratio}
            for i in ids.values()
            for name, (total, ratio) in SCALE_INVENTORY.items()])
        consumers = [(str(uuidlib.uuid4()), i) for i in ids.values()
                     for _ in range(SCALE_CONSUMERS)]
        session.execute(models.Consumer.__table__.insert(), [
            {'uuid': c, 'project_id': project, 'user_id': user,
             'generation': 1, 'consumer_type_id': kind}
            for c, _ in consumers])
        session.execute(models.Allocation.__table__.insert(), [
            {'resource_provider_id': i, 'consumer_id': c,
             'resource_class_id': rc[name], 'used': used}
            for c, i in consumers for name, used in SCALE_USE.items()])


def _identities(session: Any, models: Any) -> tuple[int, int, int]:
    import sqlalchemy as sa

    found = []
    for model, column, value in (
            (models.Project, 'external_id', str(uuidlib.UUID(int=1))),
            (models.User, 'external_id', str(uuidlib.UUID(int=2))),
            (models.ConsumerType, 'name', 'INSTANCE')):
        table = model.__table__
        row = session.execute(sa.select(table.c.id).where(
            table.c[column] == value)).first()
        if row is None:
            session.execute(table.insert().values({column: value}))
            row = session.execute(sa.select(table.c.id).where(
                table.c[column] == value)).first()
        found.append(row[0])
    return found[0], found[1], found[2]


def _sample(adapter: Any, conf: Any, start: int, stop: int) -> None:
    """A few of the nodes written, read both ways: they must agree."""
    from nested_pivot.placement import database
    from nested_pivot.placement import PlacementClient
    from nested_pivot.placement import read

    api = PlacementClient(adapter)
    bulk = PlacementClient(adapter, database=database.PlacementDatabase(
        conf))
    for i in sorted({start, (start + stop) // 2, stop - 1}):
        name = f'scale-{i:05d}'
        seen = read.read_node(api, name)
        read.complete(api, seen, tuple(seen.records))
        got = read.read_node(bulk, name)
        if (seen.snapshot, seen.records) != (got.snapshot, got.records):
            raise RuntimeError(f'{name}: the API and the database differ')


def scale(quick: bool, server: str | None) -> list[dict[str, Any]]:
    sizes = QUICK_SCALE if quick else SCALE
    rows = []
    with tempfile.TemporaryDirectory(prefix='np-ffu-scale-') as tmp:
        workdir = Path(tmp)
        where: Any = server or workdir
        backend = 'postgresql' if server else 'sqlite'
        url = fresh(where, f'np_ffu_scale_{uuidlib.uuid4().hex[:8]}')
        layouts = scale_layout(workdir / 'scale.yaml')
        try:
            done = 0
            for size in sizes:
                start = time.perf_counter()
                child('--grow', url, str(done), str(size))
                seeded = time.perf_counter() - start
                done = size
                rows.append(_scale_figures(url, layouts, workdir, size,
                                           backend, seeded))
                print(f'  ffu scale {backend} {size:6} nodes: check '
                      f'{rows[-1]["check_s"]:.1f} s '
                      f'{rows[-1]["check_rss_mib"]:.0f} MiB, plan '
                      f'{rows[-1]["plan_s"]:.1f} s', file=sys.stderr,
                      flush=True)
        finally:
            drop(url)
    return rows


def _scale_figures(url: str, layouts: Path, workdir: Path, size: int,
                   backend: str, seeded: float) -> dict[str, Any]:
    access = ['--placement-db', url, '--layouts', str(layouts),
              '--state-dir', str(workdir / 'state')]
    # check exits 1: work pending on every node.
    check = measured([SCRIPT, 'check', '--json', *access], workdir, 'check',
                     (1,))
    document = json.loads(check['stdout'])
    states = [n['state'] for n in document['nodes']]
    if states.count('flat') != size:
        raise RuntimeError(f'check: {states.count("flat")} of {size} flat')
    plan = measured([SCRIPT, 'plan', f'scale-{size - 1:05d}', '--json',
                     *access], workdir, 'plan')
    moves = sum(len(n['moves'])
                for n in json.loads(plan['stdout'])['nodes'])
    return {'backend': backend, 'nodes': size,
            'consumers': size * SCALE_CONSUMERS, 'seed_s': seeded,
            'check_s': check['wall_s'], 'check_cpu_s': check['cpu_s'],
            'check_rss_mib': check['peak_rss_mib'],
            'plan_s': plan['wall_s'], 'plan_rss_mib': plan['peak_rss_mib'],
            'plan_moves': moves}


def scale_table(rows: list[dict[str, Any]]) -> list[str]:
    first = rows[0]
    return common.table(
        ['database', 'nodes', 'instances', 'check s', 'check ms/node',
         'check peak RSS MiB', 'RSS KiB/node over the first',
         'plan NODE s', 'plan peak RSS MiB'],
        [[r['backend'], r['nodes'], r['consumers'], r['check_s'],
          1000 * r['check_s'] / r['nodes'], r['check_rss_mib'],
          '-' if r is first else f'{1024 * (r["check_rss_mib"] - first["check_rss_mib"]) / (r["nodes"] - first["nodes"]):.1f}',  # noqa: E501
          r['plan_s'], r['plan_rss_mib']] for r in rows])


# -- the run ----------------------------------------------------------------
def tables(results: dict[str, Any]) -> list[str]:
    lines = []
    if results.get('pivot'):
        lines += ['## Offline pivot of one node: the apply process against '
                  "nova's flow in process", '',
                  *pivot_table(results['pivot'])]
    if results.get('scale'):
        lines += ['', '## check and plan offline on many flat nodes', '',
                  *scale_table(results['scale'])]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--quick', action='store_true',
                        help='N = 200, one run each, 250 and 500 nodes')
    parser.add_argument('--only', action='append', default=[],
                        help='pivot or scale (the others are kept)')
    parser.add_argument('--seed', nargs=3, help=argparse.SUPPRESS)
    parser.add_argument('--nova', nargs=5, help=argparse.SUPPRESS)
    parser.add_argument('--check', nargs=5, help=argparse.SUPPRESS)
    parser.add_argument('--grow', nargs=3, help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()  # tox -e bench passes its own
    if args.only and not {'pivot', 'scale', 'ffu'} & set(args.only):
        return
    for name, func in (('seed', _seed), ('nova', _nova), ('check', _check),
                       ('grow', _grow)):
        if getattr(args, name):
            func(*getattr(args, name))
            return
    server = os.environ.get(DB_VAR)
    if not server:
        print(f'ffu: ${DB_VAR} not set: SQLite only', file=sys.stderr)
    path = results_path(args.quick)
    results = json.loads(path.read_text()) if path.exists() else {}
    wanted = [s for s in args.only if s in ('pivot', 'scale')] or [
        'pivot', 'scale']  # --only ffu: both
    for name, section in (('pivot', pivot), ('scale', scale)):
        if name in wanted:
            load = os.getloadavg()[0]
            start = time.perf_counter()
            results[name] = section(args.quick, server)
            results.setdefault('sections', {})[name] = {
                'seconds': round(time.perf_counter() - start),
                'load_before': round(load, 2),
                'load_after': round(os.getloadavg()[0], 2)}
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(results, indent=1, sort_keys=True))
    print('\n'.join(tables(results)))


if __name__ == '__main__':
    main()
