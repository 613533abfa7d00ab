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

"""What the benchmarks share: request counting, the host shapes, seeding,
checking and cleaning up real Placement, and nova's reshape flow.

Nothing here fakes Placement: every figure comes from a real Placement
server (gunicorn on PostgreSQL) or from Placement in process on SQLite.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
import concurrent.futures
import dataclasses
import os
from pathlib import Path
import re
import sys
import threading
import time
from typing import Any
import uuid as uuidlib
import warnings

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # tests.functional, when run as a script
    sys.path.insert(0, str(ROOT))

from nested_pivot import layouts  # noqa: E402
from nested_pivot.layout import Layout  # noqa: E402
from tests.functional import seed  # noqa: E402

RESULTS = ROOT / 'benchmarks' / 'results'
URL_VAR = 'NESTED_PIVOT_PLACEMENT_URL'
SEED_THREADS = 8
MV = '1.38'
_UUID = re.compile(r'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-'
                   r'[0-9a-f]{12}')


# -- counting -----------------------------------------------------------
@dataclasses.dataclass
class Counter:
    """Requests an Adapter sent, per kind, and the consumers each
    ``POST /reshaper`` rewrote.  It counts; it never answers."""

    requests: int = 0
    kinds: dict[str, int] = dataclasses.field(default_factory=dict)
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    rewritten: list[int] = dataclasses.field(default_factory=list)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock,
                                             repr=False)

    def reset(self) -> None:
        with self.lock:
            self.requests = 0
            self.kinds.clear()
            self.seconds.clear()
            self.rewritten.clear()

    def record(self, method: str, url: str, body: Any,
               seconds: float) -> None:
        kind = f'{method} {_UUID.sub("{uuid}", url.split("?")[0])}'
        with self.lock:
            self.requests += 1
            self.kinds[kind] = self.kinds.get(kind, 0) + 1
            self.seconds[kind] = self.seconds.get(kind, 0.0) + seconds
            if (method == 'POST' and url.rstrip('/').endswith('/reshaper')
                    and isinstance(body, dict)):
                self.rewritten.append(len(body.get('allocations', {})))


def counting(adapter: Any, counter: Counter) -> Any:
    """Count every request made through ``adapter`` (nova's report client
    and nested_pivot's client both end in ``Adapter.request``)."""
    inner = adapter.request

    def request(url: str, method: str, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return inner(url, method, *args, **kwargs)
        finally:
            counter.record(method, url, kwargs.get('json'),
                           time.perf_counter() - start)

    adapter.request = request
    return adapter


# -- host shapes --------------------------------------------------------
FLAVORS = ((1, 1024), (2, 2048), (2, 4096), (4, 4096))
"""(VCPU, MEMORY_MB) of the instances, in turn."""

DISK_GB = 20
SRIOV_EVERY = 20  # 5% of the consumers hold VFs
VFS_PER_CONSUMER = 2


@dataclasses.dataclass(frozen=True)
class Case:
    """A host shape: its layout, flat inventory and instances."""

    name: str
    layout: Layout
    inventory: dict[str, dict[str, Any]]

    def resources(self, index: int) -> dict[str, int]:
        vcpu, mem = FLAVORS[index % len(FLAVORS)]
        found = {'VCPU': vcpu, 'MEMORY_MB': mem, 'DISK_GB': DISK_GB}
        if self.name == 'sriov' and index % SRIOV_EVERY == 0:
            found['SRIOV_NET_VF'] = VFS_PER_CONSUMER
        return found

    def movers(self, count: int) -> int:
        if self.name == 'numa':
            return count
        return len(range(0, count, SRIOV_EVERY))


def numa_case(cell_vcpus: int = 128, cell_mem_mb: int = 2 * 1024 * 1024
              ) -> Case:
    """All consumers move: VCPU and MEMORY_MB onto two NUMA cells."""
    cell = layouts.NumaCell(
        vcpu={'total': cell_vcpus, 'allocation_ratio': 16.0},
        memory_mb={'total': cell_mem_mb})
    layout = layouts.numa([cell, cell])
    return Case('numa', layout, _flat(layout, {'DISK_GB': {'total': 10**6}}))


def sriov_case() -> Case:
    """Few consumers move: the 5% holding VFs, onto two physical
    functions; VCPU and MEMORY_MB stay on the root."""
    layout = layouts.sriov([
        layouts.PhysicalFunction(f'ens1f{i}', physnet='physnet1', vfs=64)
        for i in range(2)])
    return Case('sriov', layout, _flat(layout, {
        'VCPU': {'total': 256, 'allocation_ratio': 16.0},
        'MEMORY_MB': {'total': 4 * 1024 * 1024},
        'DISK_GB': {'total': 10**6}}))


def _flat(layout: Layout, rest: dict[str, dict[str, Any]]
          ) -> dict[str, dict[str, Any]]:
    found = {rc: inv.as_dict() for rc, inv in
             layout.flat_inventory().items()}
    found.update(rest)
    return found


CASES: dict[str, Callable[[], Case]] = {'numa': numa_case,
                                        'sriov': sriov_case}


# -- seeding ------------------------------------------------------------
def parallel(func: Callable[[Any], Any], items: Iterable[Any],
             threads: int) -> list[Any]:
    work = list(items)
    if threads <= 1:
        return [func(item) for item in work]
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return list(pool.map(func, work))


@dataclasses.dataclass(frozen=True)
class Node:
    """A seeded flat node: its name, root uuid and consumers."""

    name: str
    root: str
    consumers: tuple[str, ...]
    totals: dict[str, int]


def seed_node(adapter: Any, case: Case, name: str, count: int,
              threads: int = 1) -> Node:
    """A flat node of ``case`` with ``count`` instances (not timed).

    The instances are written as nova's scheduler writes them (typed
    INSTANCE consumers, one project and user), ``BATCH`` consumers per
    ``POST /allocations``.
    """
    root = seed.flat_node(adapter, name, case.inventory)
    consumers = [str(uuidlib.uuid4()) for _ in range(count)]
    batches = [range(i, min(count, i + BATCH))
               for i in range(0, count, BATCH)]

    def post(batch: range) -> None:
        seed.call(adapter, 'POST', '/allocations', {
            consumers[i]: _record(root, case.resources(i)) for i in batch})

    parallel(post, batches, threads)
    totals: dict[str, int] = {}
    for index in range(count):
        for rc, n in case.resources(index).items():
            totals[rc] = totals.get(rc, 0) + n
    return Node(name, root, tuple(consumers), totals)


BATCH = 100
PROJECT = str(uuidlib.UUID(int=1))
USER = str(uuidlib.UUID(int=2))


def _record(root: str, resources: dict[str, int]) -> dict[str, Any]:
    return {'allocations': {root: {'resources': resources}},
            'project_id': PROJECT, 'user_id': USER,
            'consumer_generation': None, 'consumer_type': 'INSTANCE'}


def check_pivoted(adapter: Any, case: Case, node: Node) -> None:
    """Placement holds the pivoted node: every child, nothing moved left
    on the root, and every unit still allocated (not timed)."""
    tree = seed.tree(adapter, node.root)
    if len(tree) != len(case.layout.children) + 1:
        raise AssertionError(f'{node.name}: {len(tree)} providers')
    used: dict[str, int] = {}
    for provider in tree:
        usages = seed.call(adapter, 'GET', f'/resource_providers/'
                           f'{provider["uuid"]}/usages')['usages']
        if provider['uuid'] == node.root and any(
                usages.get(rc) for rc in case.layout.resource_classes):
            raise AssertionError(f'{node.name}: moved classes left: '
                                 f'{usages}')
        for rc, n in usages.items():
            used[rc] = used.get(rc, 0) + n
    if {rc: n for rc, n in used.items() if n} != node.totals:
        raise AssertionError(f'{node.name}: usage {used} != '
                             f'{node.totals}')


def remove_node(adapter: Any, node: Node, threads: int = 1) -> None:
    """Delete the node's consumers and providers (keeps the server's
    database at its starting size between runs; not timed)."""
    parallel(lambda c: seed.call(adapter, 'DELETE', f'/allocations/{c}',
                                 ok=(204, 404)),
             node.consumers, threads)
    tree = seed.tree(adapter, node.root)
    depth = {p['uuid']: 0 for p in tree}
    for provider in tree:  # in_tree lists parents before children
        parent = provider['parent_provider_uuid']
        if parent in depth:
            depth[provider['uuid']] = depth[parent] + 1
    for uuid in sorted(depth, key=lambda u: -depth[u]):
        seed.call(adapter, 'DELETE', f'/resource_providers/{uuid}',
                  ok=(204, 404))


# -- nova ---------------------------------------------------------------
_NOVA: dict[str, Any] = {}


def nova() -> dict[str, Any]:
    """nova's report client and admin context, configured once."""
    if not _NOVA:
        warnings.filterwarnings('ignore', category=DeprecationWarning)
        warnings.filterwarnings('ignore', message=r'(?is).*eventlet')
        from nova import conf as nova_conf
        from nova import context as nova_context
        from nova.scheduler.client import report

        nova_conf.CONF([], project='nova', default_config_files=[],
                       default_config_dirs=[])
        _NOVA.update(report=report, context=nova_context)
    return _NOVA


def nova_flow(adapter: Any, node: Node, layout: Layout) -> int:
    """nova's own reshape at nova-compute start; the consumers moved.

    A fresh report client (empty cache, as at start) reads the tree and
    every allocation of it; the layout moves them in the dict as a
    driver's ``update_provider_tree`` would; the report client writes.
    """
    import nested_pivot

    mods = nova()
    client = mods['report'].SchedulerReportClient(adapter)
    ctx = mods['context'].get_admin_context()
    tree = client.get_provider_tree_and_ensure_root(ctx, node.root,
                                                    name=node.name)
    allocations = client.get_allocations_for_provider_tree(ctx, node.name)
    plan = nested_pivot.reshape(tree, allocations, layout=layout,
                                nodename=node.name)
    client.update_from_provider_tree(ctx, tree, allocations=allocations)
    return len(plan.consumers)


# -- output -------------------------------------------------------------
def table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    """A GitHub-flavoured markdown table, right-aligned numbers."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells])
              for i, h in enumerate(headers)]
    line = ' | '.join(h.ljust(w) for h, w in zip(headers, widths,
                                                  strict=True))
    rule = ' | '.join('-' * (w - 1) + ':' for w in widths)
    body = [' | '.join(c.rjust(w) for c, w in zip(r, widths, strict=True))
            for r in cells]
    return [f'| {line} |', f'| {rule} |'] + [f'| {b} |' for b in body]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f'{value:.3g}' if abs(value) < 100 else f'{value:.0f}'
    return str(value)


def load_average() -> float:
    return os.getloadavg()[0]
