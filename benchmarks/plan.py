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

"""Plan time of the engine, and its packing quality against brute force.

Prints figures; asserts nothing.  Run with ``tox -e bench`` or
``python benchmarks/plan.py [--quick]``.
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import time
from typing import Any
import uuid as uuidlib

import nested_pivot
from nested_pivot import Child
from nested_pivot import exception
from nested_pivot import Layout
from nested_pivot.engine import packing


def _uuid(label: str) -> str:
    return str(uuidlib.uuid5(uuidlib.NAMESPACE_DNS, label))


def _host(consumers: int, children: int, fill: float, seed: int
          ) -> tuple[Any, dict[str, Any], Layout]:
    """A flat host whose instances use ``fill`` of the children's room."""
    rng = random.Random(seed)
    sizes = [(rng.choice([1, 2, 4]), rng.choice([512, 1024, 2048, 4096]))
             for _ in range(consumers)]
    vcpu = sum(s[0] for s in sizes) / fill / children
    mem = sum(s[1] for s in sizes) / fill / children
    layout = Layout(tuple(
        Child(f'NUMA{i}', inventory={'VCPU': int(vcpu) + 1,
                                     'MEMORY_MB': int(mem) + 1})
        for i in range(children)))
    tree = nested_pivot.ProviderTree()
    root = _uuid('bench-root')
    tree.new_root('bench', root, generation=1)
    tree.update_inventory(root, {rc: inv.as_dict() for rc, inv in
                                 layout.flat_inventory().items()})
    allocs = {_uuid(f'c{i}'): {
        'allocations': {root: {'resources': {'VCPU': v, 'MEMORY_MB': m}}},
        'project_id': 'p', 'user_id': 'u', 'consumer_generation': 1}
        for i, (v, m) in enumerate(sizes)}
    return tree, allocs, layout


def plan_times(quick: bool) -> None:
    print('## Plan time (random hosts filled to 85%)')
    print(f'{"consumers":>10} {"children":>9} {"median s":>10} {"max s":>8}')
    sizes = (100, 1000) if quick else (100, 1000, 10000)
    for consumers, children in itertools.product(sizes, (2, 8, 16)):
        runs = []
        for seed in range(3):
            tree, allocs, layout = _host(consumers, children, 0.85, seed)
            start = time.perf_counter()
            nested_pivot.plan(tree, allocs, layout=layout)
            runs.append(time.perf_counter() - start)
        print(f'{consumers:>10} {children:>9} {statistics.median(runs):>10.3f}'
              f' {max(runs):>8.3f}')


def _tight(rng: random.Random) -> tuple[list[packing.Item], dict, dict]:
    bins = [f'b{i}' for i in range(rng.randint(2, 4))]
    count = rng.randint(6, 10)
    demand = [(rng.randint(1, 8), rng.randint(1, 8)) for _ in range(count)]
    share = rng.uniform(0.85, 1.0)
    cap_a = sum(d[0] for d in demand) / share / len(bins)
    cap_b = sum(d[1] for d in demand) / share / len(bins)
    capacity = {b: {'A': float(round(cap_a)), 'B': float(round(cap_b))}
                for b in bins}
    items = [packing.Item(f'c{i}', (('A', a), ('B', b)), tuple(bins))
             for i, (a, b) in enumerate(demand)]
    return items, capacity, {b: {} for b in bins}


def _brute_force(items, capacity) -> bool:
    for choice in itertools.product(*(it.bins for it in items)):
        load: dict[tuple[str, str], int] = {}
        for item, b in zip(items, choice, strict=True):
            for rc, n in item.demand:
                load[(b, rc)] = load.get((b, rc), 0) + n
        if all(n <= capacity[b][rc] for (b, rc), n in load.items()):
            return True
    return False


def _first_fit(items, capacity) -> bool:
    load: dict[tuple[str, str], int] = {}
    for item in items:
        for b in item.bins:
            if all(load.get((b, rc), 0) + n <= capacity[b][rc]
                   for rc, n in item.demand):
                for rc, n in item.demand:
                    load[(b, rc)] = load.get((b, rc), 0) + n
                break
        else:
            return False
    return True


def packing_quality(quick: bool) -> None:
    rng = random.Random(2026)
    trials = 60 if quick else 300
    feasible = engine = naive = 0
    worst = 0.0
    for _ in range(trials):
        items, capacity, used = _tight(rng)
        if not _brute_force(items, capacity):
            continue
        feasible += 1
        start = time.perf_counter()
        engine += packing.pack(items, capacity, used).ok
        worst = max(worst, time.perf_counter() - start)
        naive += _first_fit(items, capacity)
    print('\n## Packing quality on tight random hosts (6-10 consumers, '
          '2-4 children, 85-100% full)')
    print(f'feasible by brute force: {feasible} of {trials}')
    share = 100 * engine / feasible
    print(f'engine pivots:           {engine} ({share:.1f}%)')
    print(f'naive first-fit pivots:  {naive} ({100 * naive / feasible:.1f}%)')
    print(f'engine worst plan time:  {worst * 1000:.1f} ms')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--quick', action='store_true',
                        help='smaller sizes, for a smoke run')
    parser.add_argument('--only', action='append', default=[],
                        help="benchmarks.run's sections (tox passes the "
                             "same arguments to both): this script runs "
                             "with the packing section")
    args = parser.parse_args()
    if args.only and 'packing' not in args.only:
        return
    plan_times(args.quick)
    packing_quality(args.quick)


if __name__ == '__main__':
    try:
        main()
    except exception.PivotError as err:
        raise SystemExit(f'benchmark failed: {err}') from None
