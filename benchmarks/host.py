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

"""Per-node pivot: nested_pivot against nova's own reshape flow.

Each run gets a fresh node in a fresh process: on SQLite a new database
(Placement in process), on the HTTP server new providers and consumers,
deleted after the run.  Seeding, checking and cleaning up are not timed.

``python -m benchmarks.host [--quick]`` (the HTTP runs need
``$NESTED_PIVOT_PLACEMENT_URL``, e.g. under ``tools/placement-server run``).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any
import uuid as uuidlib

from benchmarks import common

SIZES = (50, 200, 500, 1000)
QUICK_SIZES = (50, 200)
NOVA = 'nova'
ENGINE = 'nested_pivot'
SERIAL = 'nested_pivot c=1'
FLOWS = {
    # backend -> case -> flows
    'http': {'numa': (NOVA, ENGINE, SERIAL), 'sriov': (NOVA, ENGINE)},
    'sqlite': {'numa': (NOVA, ENGINE), 'sriov': (NOVA, ENGINE)},
}
# Reads in flight per pivot: the [placement] max_concurrency default
# over HTTP; in process one at a time, as the offline CLI does.
CONCURRENCY = {('http', ENGINE): 8, ('http', SERIAL): 1,
               ('sqlite', ENGINE): 1}


def repeats(size: int, quick: bool) -> int:
    """Runs per figure (the median is reported): 5 at N = 500, where the
    targets are set, 3 below, 1 at N = 1,000."""
    if quick:
        return 1
    return {500: 5, 1000: 1}.get(size, 3)


# -- one run, in its own process ----------------------------------------
@contextlib.contextmanager
def backend(name: str) -> Iterator[Any]:
    from tests.functional import harness

    if name == 'sqlite':
        with harness.direct_placement() as adapter:
            yield adapter
    else:
        yield harness.http_placement(os.environ[common.URL_VAR])


def one(backend_name: str, case_name: str, size: int, flow: str
        ) -> dict[str, Any]:
    """Seed, pivot (timed), check and clean up one fresh node."""
    case = common.CASES[case_name]()
    counter = common.Counter()
    threads = common.SEED_THREADS if backend_name == 'http' else 1
    with backend(backend_name) as adapter:
        common.counting(adapter, counter)
        if flow == NOVA:
            common.nova()  # imports and configuration: not timed
        name = f'bench-{case_name}-{uuidlib.uuid4().hex[:8]}'
        node = common.seed_node(adapter, case, name, size, threads)
        counter.reset()
        cpu, start = time.process_time(), time.perf_counter()
        movers = _pivot(adapter, node, case, flow,
                        CONCURRENCY.get((backend_name, flow), 1))
        wall = time.perf_counter() - start
        found = {'backend': backend_name, 'case': case_name, 'size': size,
                 'flow': flow, 'wall': wall,
                 'client_cpu': time.process_time() - cpu,
                 'requests': counter.requests,
                 'rewritten': sum(counter.rewritten), 'movers': movers,
                 'kinds': dict(counter.kinds),
                 'kind_seconds': dict(counter.seconds)}
        common.check_pivoted(adapter, case, node)
        if backend_name == 'http':
            common.remove_node(adapter, node, threads)
    return found


def _pivot(adapter: Any, node: common.Node, case: common.Case, flow: str,
           concurrency: int) -> int:
    if flow == NOVA:
        return common.nova_flow(adapter, node, case.layout)
    import nested_pivot
    from nested_pivot.placement import PlacementClient

    client = PlacementClient(adapter, max_concurrency=concurrency)
    result = nested_pivot.pivot(client, node.name, case.layout)
    if not result.applied:
        raise AssertionError(f'{node.name}: nothing applied')
    return len(result.plan.consumers)


# -- the benchmark --------------------------------------------------------
def spawn(backend_name: str, case: str, size: int, flow: str
          ) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, '-m', 'benchmarks.host', '--one', backend_name,
         case, str(size), flow], cwd=common.ROOT, capture_output=True,
        text=True, timeout=1800, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f'{backend_name} {case} {size} {flow} failed:\n'
                           + proc.stderr[-3000:])
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def backends() -> list[str]:
    found = ['sqlite']
    if os.environ.get(common.URL_VAR):
        found.insert(0, 'http')
    else:
        print(f'host: ${common.URL_VAR} not set, SQLite only',
              file=sys.stderr)
    return found


def run(quick: bool) -> list[dict[str, Any]]:
    """Every run, in an order that alternates the flows."""
    sizes = QUICK_SIZES if quick else SIZES
    runs = []
    for size in sizes:
        for rep in range(repeats(size, quick)):
            for name in backends():
                for case, flows in FLOWS[name].items():
                    order = flows if rep % 2 == 0 else flows[::-1]
                    for flow in order:
                        found = spawn(name, case, size, flow)
                        found['repeat'] = rep
                        print(f'  host {name:6} {case:5} {size:5} '
                              f'{flow:17} {found["wall"]:7.2f} s '
                              f'{found["requests"]:5} requests',
                              file=sys.stderr, flush=True)
                        runs.append(found)
    return runs


def summary(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median wall time per (backend, case, size, flow)."""
    groups: dict[tuple[str, str, int, str], list[dict[str, Any]]] = {}
    for r in runs:
        key = (r['backend'], r['case'], r['size'], r['flow'])
        groups.setdefault(key, []).append(r)
    rows = []
    for (name, case, size, flow), group in groups.items():
        rows.append({
            'backend': name, 'case': case, 'size': size, 'flow': flow,
            'wall': statistics.median(g['wall'] for g in group),
            'client_cpu': statistics.median(g['client_cpu'] for g in group),
            'requests': max(g['requests'] for g in group),
            'rewritten': max(g['rewritten'] for g in group),
            'movers': max(g['movers'] for g in group),
            'runs': len(group)})
    return rows


def table(rows: list[dict[str, Any]]) -> list[str]:
    """One line per (backend, case, size): nova against nested_pivot."""
    index = {(r['backend'], r['case'], r['size'], r['flow']): r
             for r in rows}
    lines = []
    for (name, case, size, flow), r in sorted(index.items()):
        if flow != ENGINE:
            continue
        base = index[(name, case, size, NOVA)]
        serial = index.get((name, case, size, SERIAL))
        lines.append([
            name, case, size, r['movers'], base['wall'], r['wall'],
            base['wall'] / r['wall'],
            '-' if serial is None else f'{serial["wall"]:.3g}',
            base['requests'], r['requests'],
            base['requests'] / r['requests'], base['rewritten'],
            r['rewritten'], r['runs']])
    return common.table(
        ['backend', 'case', 'N', 'movers', 'nova s', 'np s',
         'speed-up', 'np c=1 s', 'nova req', 'np req', 'req ratio',
         'nova rewritten', 'np rewritten', 'runs'], lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--quick', action='store_true')
    parser.add_argument('--one', nargs=4,
                        metavar=('BACKEND', 'CASE', 'N', 'FLOW'))
    args = parser.parse_args()
    if args.one:
        name, case, size, flow = args.one
        print(json.dumps(one(name, case, int(size), flow)))
        return
    print('\n'.join(table(summary(run(args.quick)))))


if __name__ == '__main__':
    main()
