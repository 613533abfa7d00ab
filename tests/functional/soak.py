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

"""A fleet soak: ``nested-pivot apply --all`` under live scheduling.

On a real Placement server (loopback only), seed a fleet of flat NUMA
nodes with instances, then run the real console script (online, through a
:class:`~tests.functional.harness.FaultProxy` that adds the service role
and logs every request with its times) while, straight against the server:

* a **claimer** books instances as nova's scheduler does, at a fixed rate:
  ``GET /allocation_candidates`` at microversion 1.36 (nested providers
  are returned from 1.29) within one random host aggregate of the fleet,
  then ``PUT /allocations/{c}`` of one of the allocation requests Placement
  returned, with ``consumer_generation: null``; a 409 is retried on a
  fresh candidate list a bounded number of times, and a 500 from
  ``GET /allocation_candidates`` is NoValidHost for that claim;
* a **deleter** removes random instances as nova does.  nova's ordinary
  delete (``[DEFAULT] reclaim_instance_interval = 0``, the default) is
  the bare ``DELETE /allocations/{c}`` it sends with no microversion
  (``delete_allocation_for_instance(..., force=True)``); a share of the
  deletes (``1 - bare_delete_share``) is nova's guarded one instead
  (``reclaim_instance_interval > 0``): ``GET /allocations/{c}``, then
  ``PUT`` of empty allocations with the consumer generation, retried on
  409;
* a **racer** deletes, right as the proxy forwards a reshape, one of the
  consumers the reshape moves (for a share of reshapes), nova's bare way
  or its guarded way.  A bare DELETE that answers 204 while the reshape
  puts the allocations back leaks capacity: Placement's hazard, counted;
  the guarded way must never leak.

With a nova cell database (``nova``, a ``tests/soak/nova_cell.SoakNova``)
the soak keeps nova's records as nova's services would (an instance per
accepted claim, destroyed before its delete is sent), and at the end runs
``nested-pivot audit`` on the fleet, then ``audit --fix``: every leak must
be found and removed, and nothing else nova accounts for touched.

Afterwards ``nested-pivot check`` runs, and, as an operator would, apply
again on the nodes it finds pending (counted: a node that apply called done
but that a concurrent write left partial is hazard 4).  Then everything is
read back from Placement and checked: every node pivoted or its failure
reported, every accepted claim present exactly once, deleted consumers
absent, no provider over capacity (summing the allocations too: usages
omit classes without inventory), no consumer's totals changed.  Placement
errors the clients meet are counted, not failed on: a 500 from
``GET /allocation_candidates`` (hazard 2) and 5xx on allocation writes
(hazard 3).  Everything random is drawn from ``random.Random`` seeded by the
soak's seed and the claim's (or delete's, or reshape's) number, so the
same seed asks for the same things; what Placement answers depends on
timing.

Used by ``tests/functional/test_soak.py`` (small, in CI) and
``tests/soak`` (``tox -e soak``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from collections.abc import Iterable
import concurrent.futures
import dataclasses
import json
import os
from pathlib import Path
import random
import statistics
import subprocess
import sys
import threading
import time
from typing import Any
from typing import TypeVar
import uuid as uuidlib

from keystoneauth1 import exceptions as ks_exc

from tests.functional import harness
from tests.functional import seed

T = TypeVar('T')
R = TypeVar('R')

SCRIPT = str(Path(sys.executable).with_name('nested-pivot'))
ROOT_DIR = Path(__file__).resolve().parents[2]

#: What nova's scheduler asks allocation candidates and claims at.
CANDIDATES_MV = '1.36'
#: What nova's guarded delete reads and writes at.
CONSUMER_MV = '1.28'
#: The trait nested_pivot's hook puts on the root of a node whose
#: nova-compute runs it; online apply will refuse nodes without it.
HOOK_TRAIT = 'CUSTOM_NESTED_PIVOT_HOOK_STARTUP'
PROJECT = str(uuidlib.UUID(int=16))
USER = str(uuidlib.UUID(int=17))

FLAVORS = (
    {'VCPU': 1, 'MEMORY_MB': 512, 'DISK_GB': 10},
    {'VCPU': 2, 'MEMORY_MB': 2048, 'DISK_GB': 20},
    {'VCPU': 4, 'MEMORY_MB': 4096, 'DISK_GB': 40},
)
#: A flat two-socket node; the layout's two cells offer the same capacity.
FLAT = {
    'VCPU': {'total': 32, 'allocation_ratio': 4.0},
    'MEMORY_MB': {'total': 65536, 'reserved': 512},
    'DISK_GB': {'total': 4000},
}
LAYOUT = """\
layouts:
  - match: "{prefix}-*"
    children:
      - name: NUMA0
        inventory:
          VCPU: {{total: 16, allocation_ratio: 4.0}}
          MEMORY_MB: {{total: 32768, reserved: 256}}
        traits: [HW_NUMA_ROOT]
      - name: NUMA1
        inventory:
          VCPU: {{total: 16, allocation_ratio: 4.0}}
          MEMORY_MB: {{total: 32768, reserved: 256}}
        traits: [HW_NUMA_ROOT]
"""


@dataclasses.dataclass(frozen=True)
class Settings:
    """The shape and load of one soak run."""

    nodes: int
    instances: int
    """Instances per node at the start."""
    claim_rate: float
    """Claims started per second."""
    delete_rate: float
    """Guarded deletes started per second, of random instances."""
    warmup: float = 2.0
    """Seconds of claims and deletes before the apply starts."""
    cooldown: float = 1.0
    """Seconds of claims and deletes after the apply ended."""
    race_share: float = 0.5
    """Share of nodes that get a racing delete of a consumer their pivot
    moves."""
    read_share: float = 0.5
    """Share of racing deletes fired when the pivot reads the consumer;
    the others are fired when the proxy forwards the node's reshape."""
    read_delay: float = 0.4
    """A racing delete fired at the read is sent 0 to this many seconds
    later."""
    bare_share: float = 0.5
    """Share of racing deletes sent as a bare DELETE."""
    bare_delete_share: float = 0.8
    """Share of the deleter's deletes sent as nova's default delete (the
    bare DELETE); the others are nova's guarded one."""
    race_delay: float = 0.15
    """A racing delete is sent 0 to this many seconds after the proxy
    starts forwarding the reshape."""
    concurrency: int = 4
    aggregate: int = 10
    """Nodes per host aggregate: the scope of one claim's candidates."""
    retries: int = 3
    """Retries of a claim or a delete after a 409."""
    seed: int = 16
    timeout: float = 900.0
    """Seconds the apply may take."""

    ENV = 'NESTED_PIVOT_SOAK_'

    @classmethod
    def from_env(cls, **defaults: Any) -> Settings:
        """``defaults``, each overridable by ``$NESTED_PIVOT_SOAK_<NAME>``
        (e.g. ``NESTED_PIVOT_SOAK_NODES=200``)."""
        values = dict(defaults)
        for field in dataclasses.fields(cls):
            text = os.environ.get(cls.ENV + field.name.upper())
            if text is None:
                continue
            kind = type(values.get(field.name, field.default))
            values[field.name] = kind(text)
        return cls(**values)


@dataclasses.dataclass
class Node:
    name: str
    root: str
    aggregate: str


@dataclasses.dataclass(frozen=True)
class Held:
    """A consumer the soak expects in Placement, and what it holds."""

    root: str
    amounts: dict[str, int]
    origin: str  # 'seeded' or 'claimed'
    answered: float = 0.0  # claimed: when Placement accepted the claim


@dataclasses.dataclass
class Deletion:
    consumer: str
    how: str  # 'bare', 'guarded', 'race-guarded' or 'race-bare'
    status: int  # the final answer; 0: no answer
    sent: float = 0.0
    answered: float = 0.0
    seen: float = 0.0  # racing: when the proxy saw its trigger
    held: Held | None = None
    trigger: str = ''  # racing: 'read' or 'reshape'


class Book:
    """What the soak's clients know Placement holds, and their counts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[str, Held] = {}
        self._order: list[str] = []
        self._index: dict[str, int] = {}
        self.deletions: list[Deletion] = []
        self.uncertain: set[str] = set()
        self.failed_deletes: set[str] = set()
        """Deleted in nova, but their DELETE failed: nova deleted the
        instance first, so their allocations stay behind."""
        self.counts: Counter[str] = Counter()
        self.events: list[tuple[str, float, float, str]] = []

    def count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counts[key] += n

    def event(self, kind: str, start: float, end: float,
              detail: str = '') -> None:
        with self._lock:
            self.events.append((kind, start, end, detail))

    def add(self, consumer: str, held: Held) -> None:
        with self._lock:
            self._live[consumer] = held
            self._index[consumer] = len(self._order)
            self._order.append(consumer)

    def _remove(self, consumer: str) -> Held:
        i = self._index.pop(consumer)
        last = self._order.pop()
        if last != consumer:
            self._order[i] = last
            self._index[last] = i
        return self._live.pop(consumer)

    def take_random(self, rng: random.Random) -> tuple[str, Held] | None:
        """A random live consumer, no longer live (being deleted)."""
        with self._lock:
            if not self._order:
                return None
            consumer = self._order[rng.randrange(len(self._order))]
            return consumer, self._remove(consumer)

    def take(self, consumers: Iterable[str], rng: random.Random
             ) -> tuple[str, Held] | None:
        """One of ``consumers`` that is live, no longer live."""
        with self._lock:
            live = sorted(c for c in consumers if c in self._live)
            if not live:
                return None
            consumer = rng.choice(live)
            return consumer, self._remove(consumer)

    def held(self, consumer: str) -> Held | None:
        with self._lock:
            return self._live.get(consumer)

    def restore(self, consumer: str, held: Held) -> None:
        self.add(consumer, held)

    def deleted(self, deletion: Deletion) -> None:
        with self._lock:
            self.deletions.append(deletion)

    def live(self) -> dict[str, Held]:
        with self._lock:
            return dict(self._live)


class Clients:
    """One keystoneauth Adapter per thread onto the server."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._local = threading.local()

    @property
    def adapter(self) -> Any:
        adapter = getattr(self._local, 'adapter', None)
        if adapter is None:
            adapter = self._local.adapter = harness.http_placement(self.url)
        return adapter


def parallel(func: Callable[[T], R], items: Iterable[T],
             workers: int = 4) -> list[R]:
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(func, items))


def _rng(settings: Settings, what: str, n: int) -> random.Random:
    return random.Random(f'{settings.seed}:{what}:{n}')


# -- the fleet ---------------------------------------------------------------
def seed_fleet(clients: Clients, prefix: str, settings: Settings,
               book: Book, nova: Any = None) -> list[Node]:
    """Flat nodes with the hook's trait, in host aggregates, with
    instances (recorded in ``book``, and in ``nova`` when given)."""
    seed.call(clients.adapter, 'PUT', f'/traits/{HOOK_TRAIT}', mv='1.6')
    groups = max(1, -(-settings.nodes // settings.aggregate))
    aggregates = [str(uuidlib.uuid4()) for _ in range(groups)]

    def one(i: int) -> Node:
        adapter = clients.adapter
        rng = _rng(settings, 'node', i)
        name = f'{prefix}-{i:03d}'
        root = seed.flat_node(adapter, name, FLAT)
        node = Node(name, root, aggregates[i // settings.aggregate])
        if nova is not None:
            nova.node(name)
        seed.add_traits(adapter, root, HOOK_TRAIT)
        gen = seed.call(adapter, 'GET', f'/resource_providers/{root}',
                        mv='1.19')['generation']
        seed.call(adapter, 'PUT', f'/resource_providers/{root}/aggregates',
                  {'aggregates': [node.aggregate],
                   'resource_provider_generation': gen}, mv='1.19')
        for _ in range(settings.instances):
            consumer, amounts = str(uuidlib.uuid4()), dict(rng.choice(FLAVORS))
            seed.allocate(adapter, consumer, {root: amounts})
            if nova is not None:
                nova.boot(consumer, name)
            book.add(consumer, Held(root, amounts, 'seeded'))
        return node

    return parallel(one, range(settings.nodes))


# -- the load --------------------------------------------------------------
class Ticker:
    """Starts ``func(n)`` for n = 0, 1, ... at ``rate`` per second on a
    small pool, until stopped; late starts do not bunch up."""

    def __init__(self, rate: float, func: Callable[[int], None],
                 workers: int, name: str) -> None:
        self.rate = rate
        self.func = func
        self.started = 0
        self._stop = threading.Event()
        self._pool = concurrent.futures.ThreadPoolExecutor(
            workers, thread_name_prefix=name)
        self._futures: list[concurrent.futures.Future[None]] = []
        self._thread = threading.Thread(target=self._run, name=name,
                                        daemon=True)

    def start(self) -> Ticker:
        self._thread.start()
        return self

    def _run(self) -> None:
        if self.rate <= 0:
            return
        t0 = time.monotonic()
        n = 0
        while not self._stop.is_set():
            delay = t0 + n / self.rate - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                break
            self._futures.append(self._pool.submit(self.func, n))
            n += 1
            self.started = n

    def stop(self) -> None:
        """Stop starting, wait for what started; re-raise its errors.
        Calls still queued (a slow server falls behind the rate) are
        dropped, not run."""
        self._stop.set()
        self._thread.join()
        self._pool.shutdown(wait=True, cancel_futures=True)
        for future in self._futures:
            if not future.cancelled():
                future.result()


class Claimer:
    """nova's scheduler: candidates in a random aggregate, claim one."""

    def __init__(self, clients: Clients, nodes: list[Node],
                 settings: Settings, book: Book, nova: Any = None) -> None:
        self.clients = clients
        self.aggregates = sorted({n.aggregate for n in nodes})
        self.settings = settings
        self.book = book
        self.nova = nova
        self.names = {n.root: n.name for n in nodes}

    def claim(self, n: int) -> None:
        rng = _rng(self.settings, 'claim', n)
        flavor = dict(rng.choice(FLAVORS))
        aggregate = rng.choice(self.aggregates)
        consumer = str(uuidlib.uuid4())
        self.book.count('claims tried')
        for attempt in range(self.settings.retries + 1):
            found = self._candidates(flavor, aggregate, granular=n % 2 == 1)
            if found is None:
                return
            requests, summaries = found
            if not requests:
                self.book.count('claims NoValidHost (no candidate)')
                return
            chosen = rng.choice(requests)
            status = self._put(consumer, chosen)
            if status == 204:
                providers = list(chosen['allocations'])
                root = summaries[providers[0]]['root_provider_uuid']
                if self.nova is not None:  # nova's conductor, after
                    self.nova.boot(consumer, self.names[root])
                self.book.add(consumer, Held(root, flavor, 'claimed',
                                             time.monotonic()))
                self.book.count('claims accepted')
                if any(p != root for p in providers):
                    self.book.count('claims on child providers')
                return
            if status == 409:
                self.book.count('claim conflicts (409)')
                if attempt < self.settings.retries:
                    self.book.count('claim conflicts retried')
                continue
            self.book.count(f'claims failed ({status})')
            return
        self.book.count('claims given up after retries')

    def _candidates(self, flavor: dict[str, int], aggregate: str,
                    granular: bool
                    ) -> tuple[list[Any], dict[str, Any]] | None:
        """nova's query: one request group, or (for every other claim)
        VCPU and MEMORY_MB together in a numbered group, as a NUMA-aware
        flavor would ask."""
        disk = f'DISK_GB:{flavor["DISK_GB"]}'
        cpu_mem = f'VCPU:{flavor["VCPU"]},MEMORY_MB:{flavor["MEMORY_MB"]}'
        if granular:
            query = (f'resources={disk}&resources1={cpu_mem}'
                     f'&group_policy=none')
        else:
            query = f'resources={cpu_mem},{disk}'
        url = (f'/allocation_candidates?limit=1000&{query}'
               f'&member_of={aggregate}'
               f'&root_required=!COMPUTE_STATUS_DISABLED')
        start = time.monotonic()
        try:
            resp = self.clients.adapter.get(url, microversion=CANDIDATES_MV)
        except ks_exc.ClientException as err:
            self.book.count(f'candidates failed ({type(err).__name__})')
            return None
        end = time.monotonic()
        self.book.count('candidate requests')
        if resp.status_code == 500:
            # Hazard 2: NoValidHost for this claim, as nova's scheduler.
            self.book.count('candidates 500 (hazard 2)')
            self.book.event('candidates 500', start, end, resp.text[:300])
            return None
        if resp.status_code != 200:
            self.book.count(f'candidates failed ({resp.status_code})')
            return None
        body = resp.json()
        return body['allocation_requests'], body['provider_summaries']

    def _put(self, consumer: str, request: dict[str, Any]) -> int:
        body = dict(request, project_id=PROJECT, user_id=USER,
                    consumer_generation=None)
        start = time.monotonic()
        try:
            resp = self.clients.adapter.put(
                f'/allocations/{consumer}', json=body,
                microversion=CANDIDATES_MV)
        except ks_exc.ClientException:
            self.book.uncertain.add(consumer)  # it may have landed
            return 0
        if resp.status_code >= 500:
            self.book.count('allocation writes 5xx (hazard 3)')
            self.book.event('claim 5xx', start, time.monotonic(),
                            resp.text[:300])
        return int(resp.status_code)


def guarded_delete(adapter: Any, consumer: str, retries: int,
                   book: Book) -> int:
    """nova's delete: read the consumer's generation, PUT no allocations
    with it; re-read and retry on 409.  The final status."""
    status = 409
    for attempt in range(retries + 1):
        found = adapter.get(f'/allocations/{consumer}',
                            microversion=CONSUMER_MV).json()
        if not found['allocations']:
            book.count('deletes of a consumer already gone')
            return 404
        found['allocations'] = {}
        start = time.monotonic()
        resp = adapter.put(f'/allocations/{consumer}', json=found,
                           microversion=CONSUMER_MV)
        status = int(resp.status_code)
        if status >= 500:
            book.count('allocation writes 5xx (hazard 3)')
            book.event('delete 5xx', start, time.monotonic(),
                       resp.text[:300])
        if status != 409:
            return status
        book.count('delete conflicts (409)')
        if attempt < retries:
            book.count('delete conflicts retried')
    return status


def nova_delete(adapter: Any, consumer: str, book: Book) -> int:
    """nova's ordinary delete: the bare DELETE its report client sends
    with no microversion (``reclaim_instance_interval = 0``)."""
    start = time.monotonic()
    resp = adapter.delete(f'/allocations/{consumer}')
    status = int(resp.status_code)
    if status >= 500:
        book.count('allocation writes 5xx (hazard 3)')
        book.event('delete 5xx', start, time.monotonic(), resp.text[:300])
    return status


def delete(adapter: Any, consumer: str, how: str, settings: Settings,
           book: Book) -> int:
    """Delete a consumer's allocations as nova does, the bare way or the
    guarded way (its instance is destroyed before: see ``SoakNova``)."""
    if how.endswith('bare'):
        return nova_delete(adapter, consumer, book)
    return guarded_delete(adapter, consumer, settings.retries, book)


class Deleter:
    """nova deleting random instances: its default (bare) delete, or
    for a share its guarded one."""

    def __init__(self, clients: Clients, settings: Settings,
                 book: Book, nova: Any = None) -> None:
        self.clients = clients
        self.settings = settings
        self.book = book
        self.nova = nova

    def delete(self, n: int) -> None:
        rng = _rng(self.settings, 'delete', n)
        taken = self.book.take_random(rng)
        if taken is None:
            return
        consumer, held = taken
        how = ('bare' if rng.random() < self.settings.bare_delete_share
               else 'guarded')
        if self.nova is not None:
            self.nova.delete(consumer)  # nova: the instance, then this
        sent = time.monotonic()
        status = delete(self.clients.adapter, consumer, how, self.settings,
                        self.book)
        self.book.deleted(Deletion(consumer, how, status, sent,
                                   time.monotonic(), held=held))
        if status not in (204, 404):
            self.book.restore(consumer, held)
            if self.nova is not None:
                self.book.failed_deletes.add(consumer)


class Racer:
    """Deletes a consumer that a pivot moves, racing the pivot.

    For a share of nodes (once per node), either when the pivot reads one
    of the node's consumers (``GET /allocations/{c}``: the delete lands
    between that read and the reshape, or during it), or when the proxy
    forwards the node's first reshape (the delete lands during it, or
    after it).
    """

    def __init__(self, clients: Clients, nodes: list[Node],
                 settings: Settings, book: Book, nova: Any = None) -> None:
        self.clients = clients
        self.settings = settings
        self.book = book
        self.nova = nova
        self.threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._index = {n.root: i for i, n in enumerate(nodes)}
        self._plans: dict[str, str] = {}

    def before_forward(self, method: str, path: str, body: bytes) -> None:
        seen = time.monotonic()
        if method == 'GET' and path.startswith('/allocations/'):
            self._read(path.rsplit('/', 1)[1], seen)
        elif method == 'POST' and path.endswith('/reshaper') and body:
            self._reshape(json.loads(body), seen)

    def _plan(self, root: str) -> str:
        """Once per node: 'none', 'read' or 'reshape' (seeded)."""
        rng = _rng(self.settings, 'race', self._index[root])
        if rng.random() >= self.settings.race_share:
            return 'none'
        return 'read' if rng.random() < self.settings.read_share \
            else 'reshape'

    def _read(self, consumer: str, seen: float) -> None:
        held = self.book.held(consumer)
        if held is None or held.root not in self._index:
            return
        with self._lock:
            if held.root in self._plans:
                return
            plan = self._plans[held.root] = self._plan(held.root)
        if plan == 'read':
            self._fire(held.root, [consumer], 'read', seen)

    def _reshape(self, doc: dict[str, Any], seen: float) -> None:
        moving = doc.get('allocations') or {}
        root = next((u for u in doc.get('inventories') or {}
                     if u in self._index), None)
        if not moving or root is None:
            return
        with self._lock:
            if self._plans.get(root) != 'reshape':
                return
            self._plans[root] = 'done'  # its first reshape only
        self._fire(root, moving, 'reshape', seen)

    def _fire(self, root: str, consumers: Iterable[str], trigger: str,
              seen: float) -> None:
        rng = _rng(self.settings, 'race-delete', self._index[root])
        taken = self.book.take(consumers, rng)
        if taken is None:
            return
        how = ('race-bare' if rng.random() < self.settings.bare_share
               else 'race-guarded')
        longest = (self.settings.read_delay if trigger == 'read'
                   else self.settings.race_delay)
        thread = threading.Thread(
            target=self._race, name='racer', daemon=True,
            args=(*taken, how, rng.uniform(0, longest), seen, trigger))
        with self._lock:
            self.threads.append(thread)
        thread.start()

    def _race(self, consumer: str, held: Held, how: str, delay: float,
              seen: float, trigger: str) -> None:
        time.sleep(delay)
        adapter = self.clients.adapter
        if self.nova is not None:
            self.nova.delete(consumer)  # nova: the instance, then this
        sent = time.monotonic()
        status = delete(adapter, consumer, how, self.settings, self.book)
        self.book.deleted(Deletion(consumer, how, status, sent,
                                   time.monotonic(), seen, held, trigger))
        if status not in (204, 404):
            self.book.restore(consumer, held)
            if self.nova is not None:
                self.book.failed_deletes.add(consumer)

    def join(self) -> None:
        with self._lock:
            threads = list(self.threads)
        for thread in threads:
            thread.join(timeout=120)


# -- one run ---------------------------------------------------------------
@dataclasses.dataclass
class Outcome:
    """What one soak run saw; ``problems`` must be empty."""

    backend: str
    settings: Settings
    counts: Counter[str]
    times: dict[str, float]
    windows: dict[str, dict[str, float]]
    problems: list[str]
    leaks: dict[str, list[str]]
    nodes: dict[str, int]
    apply_failures: dict[str, str]
    strays: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    events: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    races: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def summary(self) -> list[str]:
        c, t = Counter(self.counts), self.times
        s = self.settings
        lines = [
            f'soak[{self.backend}] seed {s.seed}: {self.nodes["fleet"]} '
            f'nodes ({self.nodes["pivoted"]} pivoted, '
            f'{self.nodes["failed"]} failed with a reason), '
            f'{self.nodes["instances"]} instances at the start; '
            f'elapsed {t["total"]:.1f} s (seed {t["seed"]:.1f}, '
            f'apply {t["apply"]:.1f}, load {t["load"]:.1f}, '
            f'checks {t["checks"]:.1f})',
            f'  claims: {c["claims accepted"]} accepted of '
            f'{c["claims tried"]} tried at {s.claim_rate:g}/s '
            f'({c["claims on child providers"]} on child providers), '
            f'{c["claim conflicts retried"]} conflicts retried, '
            f'{c["claims given up after retries"]} given up, '
            f'{c["claims NoValidHost (no candidate)"]} no candidate, '
            f'{c["candidates 500 (hazard 2)"]} candidates 500 of '
            f'{c["candidate requests"]} requests (hazard 2; '
            f'{c["candidates 500 during a reshape"]} during a reshape)',
            f'  deletes at {s.delete_rate:g}/s: {c["bare deletes"]} '
            f'bare (nova\'s default), {c["leaks bare"]} leaked (hazard 1); '
            f'{c["guarded deletes"]} guarded, {c["leaks guarded"]} '
            f'leaked; {c["delete conflicts retried"]} delete conflicts '
            f'retried (all deleters)',
            f'  racing deletes: {c["race-bare deletes"]} bare, '
            f'{c["leaks race-bare"]} leaked (hazard 1); '
            f'{c["race-guarded deletes"]} guarded, '
            f'{c["leaks race-guarded"]} leaked',
            '    fired at the read / the reshape, landing before / '
            'overlapping / after the reshape: ' + '; '.join(
                f'{how} at {trigger} ' + '/'.join(
                    str(c[f'race-{how} at {trigger}, {when}'])
                    for when in ('before', 'overlapping', 'after'))
                + f' ({c[f"race-{how} at {trigger}, in no reshape"]} '
                f'in no reshape)'
                for how in ('bare', 'guarded')
                for trigger in ('read', 'reshape')),
            f'  allocation writes answered 5xx: '
            f'{c["allocation writes 5xx (hazard 3)"]} (hazard 3; '
            f'{c["claim 5xx during a reshape"]} claims and '
            f'{c["delete 5xx during a reshape"]} deletes during a '
            f'reshape); '
            + (', '.join(f'{k} {c[k]}' for k in sorted(c)
                         if k.startswith('claims failed'))
               or 'no other claim failure'),
            f'  reshapes: {c["reshapes"]} sent, {c["reshape conflicts"]} '
            f'conflicts; pivot retries {c["pivot retries"]}; nodes left '
            f'pending although apply said done: '
            f'{c["nodes left pending although apply said done"]} '
            f'(hazard 4: {c["stray allocations (hazard 4)"]} stray '
            f'allocations), pivoted by a rerun: '
            f'{c["nodes pivoted by a rerun"]}',
        ]
        if 'audit findings' in c:
            lines.append(
                f'  audit: {c["audit findings"]} findings, '
                f'{c["audit: deleted in nova"]} deleted in nova; leaks '
                f'(deletes a reshape undid) found '
                f'{c["leaks found by audit"]} of '
                f'{sum(len(v) for v in self.leaks.values())}, removed by '
                f'--fix {c["leaks removed by audit --fix"]}, left '
                f'{c["leaks left after audit --fix"]}; failed deletes '
                f'found {c["failed deletes found by audit"]}')
        for event in self.events:
            during = ', during a reshape' if event['during_reshape'] else ''
            lines.append(f'  {event["kind"]} ({event["took_ms"]} ms'
                         f'{during}): {event["detail"][:200]}')
        for stray in self.strays:
            lines.append(
                f'  stray (hazard 4): {stray["origin"]} consumer '
                f'{stray["consumer"]} holds {"+".join(stray["classes"])} on '
                f'the root of {stray["node"]}, which has none; accepted '
                f'{stray.get("after_reshape_ms", "?")} ms after the '
                f'reshape was answered')
        for race in self.races:
            if race['leaked']:
                lines.append(
                    f'  leak: {race["how"]} fired at the {race["trigger"]}, '
                    f'sent {race.get("sent_ms", "?")} ms after its reshape '
                    f'({race.get("reshape_ms", "?")} ms, '
                    f'{race.get("reshape_status", "?")}) started, answered '
                    f'{race["status"]} after {race["took_ms"]} ms')
        for name, w in self.windows.items():
            if w:
                lines.append(
                    f'  {name}: median {w["median"] * 1000:.0f} ms, p95 '
                    f'{w["p95"] * 1000:.0f} ms, max '
                    f'{w["max"] * 1000:.0f} ms (n={w["n"]:.0f})')
        lines.extend(f'  apply on {node}: {why}'
                     for node, why in sorted(self.apply_failures.items()))
        lines.append(f'  lost: {c["lost"]}; problems: '
                     f'{len(self.problems)}')
        lines.extend(f'  PROBLEM: {p}' for p in self.problems[:20])
        return lines

    def document(self) -> dict[str, Any]:
        document = dataclasses.asdict(self)
        document['counts'] = dict(sorted(self.counts.items()))
        return document


def run(server: Any, workdir: Path, settings: Settings,
        nova: Any = None) -> Outcome:
    """One soak run on ``server`` (a conftest ``Server``); with ``nova``
    (a ``SoakNova``), nova's records kept and the fleet audited."""
    t_start = time.monotonic()
    clients = Clients(server.url)
    book = Book()
    prefix = seed.unique('soak')
    nodes = seed_fleet(clients, prefix, settings, book, nova)
    instances = len(book.live())
    t_seeded = time.monotonic()
    before = _totals(clients, list(book.live()))

    layouts = workdir / 'layouts.yaml'
    layouts.write_text(LAYOUT.format(prefix=prefix))
    racer = Racer(clients, nodes, settings, book, nova)
    with harness.FaultProxy(server.url) as proxy:
        # What keystonemiddleware does for a token with these roles.
        proxy.set_headers = {'X-Roles': 'admin,service'}
        proxy.keep_bodies = True
        proxy.before_forward_body = racer.before_forward
        conf = workdir / 'nova.conf'
        conf.write_text(f'[placement]\nauth_type = admin_token\n'
                        f'endpoint = {proxy.url}\ntoken = admin\n')
        access = ['--config-file', str(conf), '--layouts', str(layouts),
                  '--state-dir', str(workdir / 'state')]
        claimer = Ticker(settings.claim_rate,
                         Claimer(clients, nodes, settings, book,
                                 nova).claim,
                         4, 'claimer').start()
        deleter = Ticker(settings.delete_rate,
                         Deleter(clients, settings, book, nova).delete,
                         2, 'deleter').start()
        t_load = time.monotonic()
        try:
            time.sleep(settings.warmup)
            t_apply = time.monotonic()
            applied = _cli('apply', '--all', '--concurrency',
                           str(settings.concurrency), '--yes', '--json',
                           *access, timeout=settings.timeout)
            t_applied = time.monotonic()
            time.sleep(settings.cooldown)
        finally:
            claimer.stop()
            deleter.stop()
            racer.join()
        t_quiet = time.monotonic()
        proxy.before_forward_body = None
        log = list(proxy.log)
        checked = _cli('check', '--json', *access, timeout=600)
        counts: Counter[str] = Counter(book.counts)
        # What an operator does next: rerun apply on the nodes check
        # finds pending (after counting what a concurrent write left on
        # them that their reshape had moved away).
        pending = _pending(nodes, checked)
        rerun = final = None
        strays = _strays(clients, pending, book)
        counts['stray allocations (hazard 4)'] = len(strays)
        if pending:
            rerun = _cli('apply', *(n.name for n in pending), '--yes',
                         '--json', *access, timeout=settings.timeout)
            final = _cli('check', '--json', *access, timeout=600)
    hook_errors = list(proxy.hook_errors)

    problems = [f'proxy hook raised {e!r}' for e in hook_errors]
    outcome = Outcome(
        backend=server.backend, settings=settings, counts=counts,
        times={}, windows={}, problems=problems, leaks={},
        nodes={'fleet': len(nodes), 'instances': instances},
        apply_failures={}, strays=strays)
    _judge_apply(outcome, nodes, applied, checked, rerun, final)
    _judge_placement(outcome, clients, nodes, book, before)
    _measure(outcome, log, nodes, book)
    t_audit = time.monotonic()
    if nova is not None:
        _audit(outcome, server, workdir, clients, nodes, book, nova)
    end = time.monotonic()
    outcome.times = {
        'total': end - t_start, 'seed': t_seeded - t_start,
        'apply': t_applied - t_apply, 'load': t_quiet - t_load,
        'checks': t_audit - t_quiet, 'audit': end - t_audit}
    return outcome


def _audit(outcome: Outcome, server: Any, workdir: Path, clients: Clients,
           nodes: list[Node], book: Book, nova: Any) -> None:
    """``nested-pivot audit`` of the fleet against nova's records, then
    ``audit --fix``, as an operator runs them after the pivots: every
    leak found (nova has deleted its instance) and removed, nothing that
    nova accounts for listed."""
    counts, problems = outcome.counts, outcome.problems
    leaked = {c for found in outcome.leaks.values() for c in found}
    with harness.FaultProxy(server.url) as proxy:
        proxy.set_headers = {'X-Roles': 'admin,service'}
        conf = workdir / 'nova-audit.conf'
        conf.write_text(f'[placement]\nauth_type = admin_token\n'
                        f'endpoint = {proxy.url}\ntoken = admin\n'
                        f'[database]\nconnection = {nova.connection}\n')
        names = [n.name for n in nodes]
        access = ['--config-file', str(conf), '--json']
        found = _findings(_cli('audit', *names, *access, timeout=900))
        fixed = _findings(_cli('audit', *names, '--fix', '--yes', *access,
                               timeout=900))
    deleted = {c for c, f in found.items() if f['state'] == 'deleted'}
    removed = {c for c, f in fixed.items()
               if (f['fix'] or {}).get('result') == 'removed'}
    counts['audit findings'] = len(found)
    counts['audit: deleted in nova'] = len(deleted)
    counts['leaks found by audit'] = len(leaked & deleted)
    counts['leaks removed by audit --fix'] = len(leaked & removed)
    counts['failed deletes found by audit'] = len(
        book.failed_deletes & deleted)
    if leaked - deleted:
        problems.append(f'audit missed leaks: {sorted(leaked - deleted)}')
    if leaked - removed:
        problems.append(f'audit --fix did not remove leaks: '
                        f'{sorted(leaked - removed)}')
    explained = leaked | book.failed_deletes | book.uncertain
    others = {c: found[c]['state'] for c in sorted(set(found) - explained)}
    if others:
        problems.append(f'audit listed consumers nova accounts for: '
                        f'{others}')
    left = [c for c in sorted(leaked) if seed.call(
        clients.adapter, 'GET', f'/allocations/{c}')['allocations']]
    counts['leaks left after audit --fix'] = len(left)
    if left:
        problems.append(f'leaks left after audit --fix: {left}')


def _findings(proc: subprocess.CompletedProcess[str]
              ) -> dict[str, dict[str, Any]]:
    """The findings of an audit's --json document, by consumer."""
    document = _documents(proc)[0]
    if proc.returncode not in (0, 1):
        raise ValueError(f'audit exited {proc.returncode}: '
                         f'{proc.stderr[-2000:]}')
    return {f['consumer']: f for node in document['nodes']
            for f in node.get('findings', [])}


def _cli(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *args], capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL, cwd=ROOT_DIR, check=False)


def _totals(clients: Clients, consumers: list[str]
            ) -> dict[str, dict[str, int]]:
    def one(consumer: str) -> dict[str, dict[str, int]]:
        return seed.totals(clients.adapter, [consumer])

    found: dict[str, dict[str, int]] = {}
    for part in parallel(one, consumers):
        found.update(part)
    return found


def _documents(*procs: subprocess.CompletedProcess[str]
               ) -> list[dict[str, Any]]:
    """Each command's --json document; ValueError naming the command."""
    found = []
    for proc in procs:
        try:
            found.append(json.loads(proc.stdout))
        except ValueError as err:
            raise ValueError(f'{" ".join(proc.args[1:3])} exited '
                             f'{proc.returncode} without a JSON document '
                             f'({err}): {proc.stderr[-2000:]}') from None
    return found


def _states(checked: subprocess.CompletedProcess[str]) -> dict[str, str]:
    return {r['node']: r['state'] for r in _documents(checked)[0]['nodes']}


def _pending(nodes: list[Node], checked: subprocess.CompletedProcess[str]
             ) -> list[Node]:
    """The fleet's nodes that check finds flat or partial."""
    try:
        states = _states(checked)
    except ValueError:
        return []
    return [n for n in nodes
            if states.get(n.name) in ('flat', 'partial', 'requested')]


def _strays(clients: Clients, pending: list[Node], book: Book
            ) -> list[dict[str, Any]]:
    """Consumers holding, on a pending node's root, a class the root
    has no inventory of any more: written by a claim that Placement
    accepted against the root's old inventory while its node's reshape
    removed it (hazard 4)."""
    found = []
    adapter = clients.adapter
    live = book.live()
    for node in pending:
        inventory = seed.call(adapter, 'GET', f'/resource_providers/'
                              f'{node.root}/inventories')['inventories']
        held = seed.call(adapter, 'GET', f'/resource_providers/'
                         f'{node.root}/allocations')['allocations']
        for consumer, entry in sorted(held.items()):
            missing = sorted(set(entry['resources']) - set(inventory))
            if missing:
                origin = live.get(consumer)
                found.append({
                    'node': node.name, 'root': node.root,
                    'consumer': consumer, 'classes': missing,
                    'origin': origin.origin if origin else 'unknown',
                    'answered': origin.answered if origin else 0.0})
    return found


def _judge_apply(outcome: Outcome, nodes: list[Node],
                 applied: subprocess.CompletedProcess[str],
                 checked: subprocess.CompletedProcess[str],
                 rerun: subprocess.CompletedProcess[str] | None,
                 final: subprocess.CompletedProcess[str] | None) -> None:
    """Every node pivoted, or an apply says why not; a node that the
    first apply called done but check finds pending is counted (and
    rerun)."""
    problems = outcome.problems
    counts = outcome.counts
    names = {n.name for n in nodes}
    try:
        first, second = (
            {r['node']: r for r in doc['nodes']}
            for doc in _documents(applied, rerun or applied))
        states = _states(checked)
        last = _states(final) if final is not None else states
    except (ValueError, KeyError) as err:
        problems.append(str(err))
        outcome.nodes.update(pivoted=0, failed=0)
        return
    if set(first) != names:
        problems.append(f'apply reported {len(set(first) & names)} of '
                        f'{len(names)} nodes')
    pivoted = failed = 0
    for name in sorted(names):
        result = first.get(name, {})
        counts['pivot retries'] += int(result.get('retries', 0))
        if result.get('result') == 'done' and states.get(name) != 'pivoted':
            counts['nodes left pending although apply said done'] += 1
            outcome.apply_failures[name] = (
                f'apply said done, then check said {states.get(name)}; '
                f'the rerun said {second.get(name, {}).get("result")}')
        if states.get(name) != 'pivoted' and rerun is not None:
            result = second.get(name, result)
            counts['nodes pivoted by a rerun'] += \
                last.get(name) == 'pivoted'
        if last.get(name) == 'pivoted':
            pivoted += 1
        elif result.get('result') == 'failed' and result.get('detail'):
            failed += 1
            outcome.apply_failures[name] = result['detail']
        else:
            problems.append(f'{name}: apply said {result}, check says '
                            f'{last.get(name)}')
    for proc, results in ((applied, first), (rerun, second)):
        if proc is None:
            continue
        bad = sum(r.get('result') == 'failed' for r in results.values())
        if proc.returncode != (2 if bad else 0):
            problems.append(f'apply exited {proc.returncode} with {bad} '
                            f'failed nodes: {proc.stderr[-2000:]}')
    outcome.nodes.update(pivoted=pivoted, failed=failed)


def _judge_placement(outcome: Outcome, clients: Clients, nodes: list[Node],
                     book: Book, before: dict[str, dict[str, int]]) -> None:
    """Read the fleet back from Placement and compare with the book."""
    problems = outcome.problems
    counts = outcome.counts

    def node_view(node: Node) -> tuple[Node, list[str], dict[str, Any]]:
        adapter = clients.adapter
        uuids = [p['uuid'] for p in seed.tree(adapter, node.root)]
        held: dict[str, Any] = {}
        for rp in uuids:
            inv = seed.call(adapter, 'GET',
                            f'/resource_providers/{rp}/inventories')
            use = seed.call(adapter, 'GET',
                            f'/resource_providers/{rp}/usages')['usages']
            found = seed.call(adapter, 'GET',
                              f'/resource_providers/{rp}/allocations')
            # Usages list only classes the provider has inventory of:
            # sum the allocations too, to see the others.
            summed: Counter[str] = Counter()
            for consumer, entry in found['allocations'].items():
                held.setdefault(consumer, {})[rp] = entry['resources']
                summed.update(entry['resources'])
            for rc in sorted(set(use) | set(summed)):
                used = max(use.get(rc, 0), summed[rc])
                record = inv['inventories'].get(rc)
                if record is None:
                    if used:
                        problems.append(f'{node.name}: {rp} holds {used} '
                                        f'{rc} without inventory')
                    continue
                capacity = ((record['total'] - record['reserved'])
                            * record['allocation_ratio'])
                if used > capacity:
                    problems.append(f'{node.name}: {rp} over capacity: '
                                    f'{used} {rc} > {capacity:g}')
        return node, uuids, held

    fleet_held: dict[str, dict[str, Any]] = {}
    tree_of: dict[str, str] = {}
    for node, uuids, held in parallel(node_view, nodes):
        tree_of.update(dict.fromkeys(uuids, node.root))
        for consumer, where in held.items():
            fleet_held.setdefault(consumer, {}).update(where)

    live = book.live()
    leaks: dict[str, list[str]] = {'race-bare': [], 'race-guarded': [],
                                   'guarded': [], 'bare': []}
    deleted_with_204 = {d.consumer: d for d in book.deletions
                        if d.status == 204}
    for how in ('bare', 'guarded', 'race-guarded', 'race-bare'):
        counts[f'{how} deletes'] = sum(d.how == how for d in book.deletions)
    for consumer, deletion in sorted(deleted_with_204.items()):
        if fleet_held.get(consumer):
            leaks[deletion.how].append(consumer)
    for how, found in leaks.items():
        counts[f'leaks {how}'] = len(found)
    if leaks['guarded'] or leaks['race-guarded']:
        problems.append(f'guarded deletes leaked: '
                        f'{leaks["guarded"] + leaks["race-guarded"]}')
    outcome.leaks = leaks

    def record(consumer: str) -> dict[str, dict[str, int]]:
        body = seed.call(clients.adapter, 'GET', f'/allocations/{consumer}')
        return {rp: e['resources'] for rp, e in body['allocations'].items()}

    lost = 0
    consumers = sorted(live)
    for consumer, whole in zip(consumers, parallel(record, consumers),
                               strict=True):
        held = live[consumer]
        totals: Counter[str] = Counter()
        for resources in whole.values():
            totals.update(resources)
        roots = {tree_of.get(rp) for rp in whole}
        if (whole != fleet_held.get(consumer, {})
                or dict(totals) != held.amounts or roots != {held.root}):
            lost += 1
            problems.append(f'{held.origin} consumer {consumer} holds '
                            f'{whole} (seen from the providers: '
                            f'{fleet_held.get(consumer)}); expected '
                            f'{held.amounts} on node {held.root}')
        elif consumer in before and before[consumer] != dict(totals):
            lost += 1
            problems.append(f'consumer {consumer}: totals {dict(totals)} '
                            f'after the pivot, {before[consumer]} before')
    counts['lost'] = lost
    counts['live consumers at the end'] = len(live)
    expected = set(live) | {c for found in leaks.values() for c in found}
    strangers = set(fleet_held) - expected - book.uncertain
    deleted = {d.consumer for d in book.deletions if d.status in (204, 404)}
    for consumer in sorted(strangers):
        what = 'a deleted consumer' if consumer in deleted \
            else 'an unknown consumer'
        problems.append(f'{what} {consumer} holds {fleet_held[consumer]}')


def _measure(outcome: Outcome, log: list[harness.LoggedRequest],
             nodes: list[Node], book: Book) -> None:
    """Windows of the pivots (from the proxy's log) and where the racing
    deletes and the 500s fell."""
    roots = {n.root for n in nodes}
    consumer_reads: dict[str, list[float]] = {}
    node_reads: dict[str, list[float]] = {}
    child_posts: dict[str, list[float]] = {}
    provider_reads: dict[str, list[float]] = {}
    reshapes = []
    for entry in log:
        path = entry.path
        if entry.method == 'GET' and path.startswith('/allocations/'):
            consumer_reads.setdefault(path.rsplit('/', 1)[1], []).append(
                entry.end)
        elif entry.method == 'GET' and path.endswith('/allocations'):
            provider_reads.setdefault(path.split('/')[2], []).append(
                entry.end)
        elif entry.method == 'GET' and '?in_tree=' in path:
            node_reads.setdefault(path.rsplit('=', 1)[1], []).append(
                entry.end)
        elif entry.method == 'POST' and path == '/resource_providers':
            parent = json.loads(entry.body).get('parent_provider_uuid')
            if parent:
                child_posts.setdefault(parent, []).append(entry.start)
        elif (entry.method == 'POST' and path.endswith('/reshaper')
              and entry.body):
            body = json.loads(entry.body)
            if body.get('allocations'):
                reshapes.append((entry, body))
    spans: dict[str, list[float]] = {
        'window last consumer read -> reshape sent': [],
        'window node read -> reshape sent': [],
        '  1 node read -> its providers\' allocations read': [],
        '  2 -> its moving consumers read': [],
        '  3 -> planned and journaled (children to create, or reshape)': [],
        '  4 -> children created, reshape sent (first attempts)': [],
        'reshape request (Placement transaction and more)': [],
    }
    by_consumer: dict[str, list[harness.LoggedRequest]] = {}
    counts = outcome.counts

    def latest(times: Iterable[float], after: float, before: float
               ) -> float | None:
        return max((t for t in times if after <= t <= before), default=None)

    for entry, body in reshapes:
        counts['reshapes'] += 1
        if entry.status == 409:
            counts['reshape conflicts'] += 1
        elif entry.status != 204:
            counts[f'reshapes answered {entry.status}'] += 1
        moving = list(body['allocations'])
        for consumer in moving:
            by_consumer.setdefault(consumer, []).append(entry)
        spans['reshape request (Placement transaction and more)'].append(
            entry.end - entry.start)
        root = next((u for u in body['inventories'] if u in roots), None)
        read = latest(node_reads.get(root or '', []), 0.0, entry.start)
        if read is None:
            continue
        spans['window node read -> reshape sent'].append(entry.start - read)
        providers = latest((t for u in body['inventories']
                            for t in provider_reads.get(u, [])),
                           read, entry.start)
        consumers = latest((t for c in moving
                            for t in consumer_reads.get(c, [])),
                           read, entry.start)
        if providers is None or consumers is None:
            continue
        posts = [t for t in child_posts.get(root or '', [])
                 if consumers <= t <= entry.start]
        planned = min(posts, default=entry.start)
        spans['window last consumer read -> reshape sent'].append(
            entry.start - consumers)
        spans['  1 node read -> its providers\' allocations read'].append(
            providers - read)
        spans['  2 -> its moving consumers read'].append(
            consumers - providers)
        spans['  3 -> planned and journaled (children to create, or '
              'reshape)'].append(planned - consumers)
        if posts:
            spans['  4 -> children created, reshape sent (first '
                  'attempts)'].append(entry.start - planned)
    outcome.windows = {name: _stats(values)
                       for name, values in spans.items()}

    leaked = {c for found in outcome.leaks.values() for c in found}
    for deletion in book.deletions:
        if not deletion.how.startswith('race-'):
            continue
        listing = by_consumer.get(deletion.consumer, [])
        if deletion.trigger == 'reshape':
            targets = [e for e in listing
                       if e.start <= deletion.seen <= e.end]
        else:  # the first reshape after the pivot read the consumer
            targets = [e for e in listing if e.start >= deletion.seen][:1]
        race: dict[str, Any] = {
            'how': deletion.how, 'trigger': deletion.trigger,
            'status': deletion.status,
            'leaked': deletion.consumer in leaked,
            'took_ms': round((deletion.answered - deletion.sent) * 1000)}
        if not targets:
            race['when'] = 'in no reshape'
        else:
            target = targets[0]
            race.update(
                sent_ms=round((deletion.sent - target.start) * 1000),
                reshape_ms=round((target.end - target.start) * 1000),
                reshape_status=target.status,
                when=('before' if deletion.answered <= target.start
                      else 'after' if deletion.sent >= target.end
                      else 'overlapping'))
        counts[f'{deletion.how} at {deletion.trigger}, '
               f'{race["when"]}'] += 1
        if race['when'] == 'overlapping':
            counts[f'{deletion.how} overlapping'] += 1
        outcome.races.append(race)
    for kind, start, end, detail in book.events:
        during = any(start < e.end and end > e.start for e, _ in reshapes)
        if during:
            counts[f'{kind} during a reshape'] += 1
        outcome.events.append({'kind': kind, 'during_reshape': during,
                               'took_ms': round((end - start) * 1000),
                               'detail': ' '.join(detail.split())})
    for stray in outcome.strays:
        done = [e for e, body in reshapes if e.status == 204
                and stray['root'] in body['inventories']]
        if done and stray['answered']:
            stray['after_reshape_ms'] = round(
                (stray['answered'] - done[-1].end) * 1000)


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    return {'n': len(ordered), 'min': ordered[0],
            'median': statistics.median(ordered),
            'p95': ordered[min(len(ordered) - 1,
                               int(0.95 * len(ordered)))],
            'max': ordered[-1]}


def show(request: Any, lines: list[str]) -> None:
    """Write ``lines`` to the terminal, also under -q and without -s."""
    plugins = request.config.pluginmanager
    reporter = plugins.getplugin('terminalreporter')
    capture = plugins.getplugin('capturemanager')
    if reporter is None or capture is None:
        print('\n'.join(lines))
        return
    with capture.global_and_fixture_disabled():
        reporter.ensure_newline()
        for line in lines:
            reporter.write_line(line)


def report(request: Any, outcome: Outcome) -> None:
    """Show the run's counts in the test output, and append them to
    ``$NESTED_PIVOT_SOAK_RESULTS``."""
    show(request, outcome.summary())
    path = os.environ.get('NESTED_PIVOT_SOAK_RESULTS')
    if path:
        with open(path, 'a') as out:
            out.write(json.dumps(outcome.document(), default=str) + '\n')
