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

"""Packing quality: how often the engine pivots a tight host, against an
exact solver (OR-Tools CP-SAT) and a naive first-fit, and how long it
plans, up to 10,000 consumers.

``python -m benchmarks.packing [--quick]``; asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import sys
import time
from typing import Any
import uuid as uuidlib

from benchmarks import common
from benchmarks import plan as plan_bench
import nested_pivot
from nested_pivot import Child
from nested_pivot import exception
from nested_pivot import Layout

TRIALS = 2000
QUICK_TRIALS = 60
SOLVER_SECONDS = 30.0
VCPUS = (1, 2, 2, 4, 4, 8)
MB_PER_VCPU = (512, 1024, 2048, 4096)
BUCKETS = ((8, 15), (16, 25), (26, 40))
SCALE_SIZES = (1000, 2500, 5000, 10_000)
QUICK_SCALE_SIZES = (1000, 2500)


@dataclasses.dataclass(frozen=True)
class Host:
    """Consumers' demands and children's capacities, per class."""

    classes: tuple[str, ...]
    demands: tuple[tuple[int, ...], ...]
    capacities: tuple[tuple[int, ...], ...]


def tight_host(rng: random.Random) -> Host:
    """8-40 instances on 2-4 children filled to 90-100%, the children
    equal or of random sizes; a third of the hosts has pinned (PCPU)
    instances too."""
    pinned = rng.random() < 1 / 3
    classes = ('VCPU', 'MEMORY_MB') + (('PCPU',) if pinned else ())
    demands = tuple(_demand(rng, classes)
                    for _ in range(rng.randint(8, 40)))
    children = rng.randint(2, 4)
    weights = ([1.0] * children if rng.random() < 0.5 else
               [rng.uniform(0.6, 1.4) for _ in range(children)])
    fill = rng.uniform(0.90, 1.0)
    totals = [sum(d[r] for d in demands) for r in range(len(classes))]
    capacities = tuple(
        tuple(max(1, int(t / fill * w / sum(weights))) for t in totals)
        for w in weights)
    return Host(classes, demands, capacities)


def _demand(rng: random.Random, classes: tuple[str, ...]) -> tuple[int, ...]:
    cpus = rng.choice(VCPUS)
    mem = cpus * rng.choice(MB_PER_VCPU)
    if 'PCPU' in classes and rng.random() < 0.25:
        return (0, mem, cpus)
    return (cpus, mem) + ((0,) if 'PCPU' in classes else ())


# -- the three packers ----------------------------------------------------
def exact(host: Host, seconds: float = SOLVER_SECONDS) -> bool | None:
    """CP-SAT: True if some placement fits, False if none does, None if
    it could not tell in time."""
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    children = range(len(host.capacities))
    x = [[model.new_bool_var(f'x{i}_{c}') for c in children]
         for i in range(len(host.demands))]
    for row in x:
        model.add_exactly_one(row)
    for c in children:
        for r, cap in enumerate(host.capacities[c]):
            model.add(sum(d[r] * x[i][c] for i, d in enumerate(host.demands)
                          if d[r]) <= cap)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = seconds
    solver.parameters.num_workers = 2
    status = solver.solve(model)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return True
    return False if status == cp_model.INFEASIBLE else None


def first_fit(host: Host) -> bool:
    """Each instance, in the order listed, on the first child with room."""
    used = [[0] * len(host.classes) for _ in host.capacities]
    for demand in host.demands:
        for load, cap in zip(used, host.capacities, strict=True):
            if all(u + d <= c for u, d, c in zip(load, demand, cap,
                                                 strict=True)):
                for r, d in enumerate(demand):
                    load[r] += d
                break
        else:
            return False
    return True


def engine(host: Host) -> tuple[bool, float, bool]:
    """nested_pivot's plan for the host as a flat node: (pivoted,
    seconds, whether a refusal came from the search giving up)."""
    tree, allocations, layout = _node(host)
    start = time.perf_counter()
    try:
        found = nested_pivot.plan(tree, allocations, layout=layout)
    except exception.CannotPivot as err:
        return (False, time.perf_counter() - start,
                'gave up' in ' '.join(str(err).split()))
    seconds = time.perf_counter() - start
    _check(host, layout, found)
    return True, seconds, False


def _node(host: Host) -> tuple[Any, dict[str, Any], Layout]:
    layout = Layout(tuple(
        Child(f'NUMA{c}', inventory=dict(zip(host.classes, cap,
                                             strict=True)))
        for c, cap in enumerate(host.capacities)))
    tree = nested_pivot.ProviderTree()
    root = str(uuidlib.uuid4())
    tree.new_root('packing', root, generation=1)
    tree.update_inventory(root, {rc: inv.as_dict() for rc, inv in
                                 layout.flat_inventory().items()})
    allocations = {str(uuidlib.UUID(int=i + 1)): {
        'allocations': {root: {'resources': {
            rc: n for rc, n in zip(host.classes, d, strict=True) if n}}},
        'project_id': 'p', 'user_id': 'u', 'consumer_generation': 1}
        for i, d in enumerate(host.demands)}
    return tree, allocations, layout


def _check(host: Host, layout: Layout, found: Any) -> None:
    """Belt and braces: the engine's placement fits every child."""
    names = {u: p.name for u, p in found.after.providers.items()}
    used: dict[tuple[str, str], int] = {}
    for record in found.allocations.values():
        for rp, resources in record.allocations.items():
            for rc, n in resources.items():
                key = (names[rp], rc)
                used[key] = used.get(key, 0) + n
    for child in layout.children:
        for rc, inv in child.inventory.items():
            if used.get((child.name, rc), 0) > inv.capacity:
                raise AssertionError(f'engine overfilled {child.name} {rc}')


# -- the benchmark ----------------------------------------------------------
def quality(trials: int) -> list[dict[str, Any]]:
    rng = random.Random(2026)
    rows = []
    for _ in range(trials):
        host = tight_host(rng)
        pivoted, seconds, gave_up = engine(host)
        row = {'consumers': len(host.demands),
               'children': len(host.capacities),
               'classes': len(host.classes), 'exact': exact(host),
               'engine': pivoted, 'first_fit': first_fit(host),
               'seconds': seconds, 'gave_up': gave_up}
        if row['exact'] and not pivoted:  # to reproduce a miss
            row['host'] = dataclasses.asdict(host)
        rows.append(row)
    return rows


def scale(sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    """Plan time of an all-move NUMA host of many consumers (85% full)."""
    rows = []
    for consumers in sizes:
        for children in (2, 4, 16):
            runs = []
            for seed in range(3):
                tree, allocations, layout = plan_bench._host(
                    consumers, children, 0.85, seed)
                start = time.perf_counter()
                nested_pivot.plan(tree, allocations, layout=layout)
                runs.append(time.perf_counter() - start)
            rows.append({'consumers': consumers, 'children': children,
                         'median': statistics.median(runs),
                         'max': max(runs)})
            print(f'  plan {consumers:6} consumers {children:3} children '
                  f'{max(runs):6.3f} s', file=sys.stderr, flush=True)
    return rows


def run(quick: bool) -> dict[str, Any]:
    start = time.perf_counter()
    rows = quality(QUICK_TRIALS if quick else TRIALS)
    print(f'  packing: {len(rows)} hosts in '
          f'{time.perf_counter() - start:.0f} s', file=sys.stderr,
          flush=True)
    return {'fields': list(FIELDS),
            'hosts': [[r[f] for f in FIELDS] for r in rows],
            'misses': [r for r in rows if 'host' in r],
            'scale': scale(QUICK_SCALE_SIZES if quick else SCALE_SIZES)}


FIELDS = ('consumers', 'children', 'classes', 'exact', 'engine',
          'first_fit', 'seconds', 'gave_up')
"""One row per host in the results file (a list, to keep it small)."""


def hosts(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(zip(result['fields'], row, strict=True))
            for row in result['hosts']]


def summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per consumer bucket and overall: shares of the feasible hosts."""
    found = []
    for low, high in (*BUCKETS, (8, 40)):
        group = [r for r in rows if low <= r['consumers'] <= high]
        feasible = [r for r in group if r['exact']]
        refused = [r['seconds'] for r in group if not r['engine']]
        found.append({
            'consumers': f'{low}-{high}', 'hosts': len(group),
            'feasible': len(feasible),
            'infeasible': sum(r['exact'] is False for r in group),
            'unknown': sum(r['exact'] is None for r in group),
            'engine': sum(r['engine'] for r in feasible),
            'first_fit': sum(r['first_fit'] for r in feasible),
            'wrong': sum(r['engine'] and r['exact'] is False for r in group),
            'gave_up': sum(r['gave_up'] for r in feasible),
            'worst_ok': max([r['seconds'] for r in group if r['engine']],
                            default=0.0),
            'worst_refused': max(refused, default=0.0)})
    return found


def table(result: dict[str, Any]) -> list[str]:
    rows = []
    for s in summary(hosts(result)):
        share = 100 * s['engine'] / max(1, s['feasible'])
        naive = 100 * s['first_fit'] / max(1, s['feasible'])
        rows.append([s['consumers'], s['hosts'], s['feasible'],
                     s['infeasible'], s['unknown'], f'{share:.1f}%',
                     f'{naive:.1f}%', s['wrong'],
                     1000 * s['worst_ok'], 1000 * s['worst_refused']])
    return common.table(
        ['consumers', 'hosts', 'feasible (CP-SAT)', 'infeasible',
         'unknown', 'engine pivots', 'first-fit pivots', 'engine wrong',
         'worst plan ms', 'worst refusal ms'], rows)


def scale_table(result: dict[str, Any]) -> list[str]:
    return common.table(
        ['consumers', 'children', 'median plan s', 'max plan s'],
        [[r['consumers'], r['children'], r['median'], r['max']]
         for r in result['scale']])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--quick', action='store_true')
    result = run(parser.parse_args().quick)
    print('\n'.join([*table(result), '', *scale_table(result)]))


if __name__ == '__main__':
    main()
