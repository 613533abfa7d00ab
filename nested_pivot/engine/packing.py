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

"""Multi-dimensional bin packing of moved allocations onto providers.

Pure and deterministic.  An :class:`Item` is one consumer's classes that
must land together on one provider (VCPU with MEMORY_MB on one NUMA cell);
a bin is a provider with a capacity per resource class.

Items that share no (provider, class) pair are independent, so the problem
is split into components.  Each component is tried with a few greedy
strategies, balanced (worst fit) first so that children keep even
headroom, then tight (best fit) and first fit; if all fail, a depth-first
exact search with pruning, symmetry breaking and memoised dead ends
decides, within a node budget.  A result is only ever returned when it
is valid.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
import dataclasses
import itertools

EXACT_ITEM_LIMIT = 400
"""Components with more items than this get the greedy strategies only."""

DEFAULT_BUDGET = 200_000
"""Search nodes per component before the exact search gives up."""


@dataclasses.dataclass(frozen=True)
class Item:
    """Classes of one consumer that must land together on one of ``bins``
    (in order of preference)."""

    consumer: str
    demand: tuple[tuple[str, int], ...]
    bins: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Result:
    """A full assignment (item index -> bin), or the best partial one."""

    assignment: dict[int, str]
    unplaced: tuple[int, ...]
    room: dict[str, dict[str, float]]
    exhausted: bool = False

    @property
    def ok(self) -> bool:
        return not self.unplaced


Capacity = Mapping[str, Mapping[str, float]]
Used = Mapping[str, Mapping[str, int]]
Option = tuple[str, list[float]]
"""A bin an item fits in, and the room per class it would leave there,
as shares of the component's room."""


class Affinity:
    """Keep a consumer's items in one branch of the tree: a VF on the
    physical function under the NUMA cell that took its VCPUs.

    A preference only: the greedy strategies choose among related bins
    when one fits, and never fail for it.
    """

    def __init__(self, ancestors: Mapping[str, frozenset[str]],
                 placed: Mapping[str, set[str]] | None = None) -> None:
        self.ancestors = ancestors
        self.placed = {c: set(b) for c, b in (placed or {}).items()}

    def depth(self, bin_: str) -> int:
        return len(self.ancestors.get(bin_, ()))

    def prefer(self, consumer: str, options: list[Option]) -> list[Option]:
        mine = self.placed.get(consumer)
        if not mine:
            return options
        related = [o for o in options if any(
            o[0] in self.ancestors.get(p, ())
            or p in self.ancestors.get(o[0], ()) for p in mine)]
        return related or options

    def record(self, consumer: str, bin_: str) -> None:
        self.placed.setdefault(consumer, set()).add(bin_)


def pack(items: Sequence[Item], capacity: Capacity, used: Used,
         budget: int = DEFAULT_BUDGET,
         affinity: Affinity | None = None) -> Result:
    """Assign every item to one of its bins without exceeding capacity."""
    state = _State.start(capacity, used)
    affinity = affinity or Affinity({})
    assignment: dict[int, str] = {}
    unplaced: list[int] = []
    exhausted = False
    # Shallow components first (NUMA cells before the devices under them),
    # so that affinity can follow the branch the first ones chose.
    components = sorted(_components(items), key=lambda c: min(
        (affinity.depth(b) for bins in {items[i].bins for i in c}
         for b in bins), default=0))
    for component in components:
        result = _pack_component(items, component, state, budget, affinity)
        assignment.update(result.assignment)
        unplaced.extend(result.unplaced)
        exhausted = exhausted or result.exhausted
        for index, bin_ in result.assignment.items():
            state.add(items[index], bin_)
            affinity.record(items[index].consumer, bin_)
    return Result(assignment, tuple(sorted(unplaced)), state.room(),
                  exhausted)


class _State:
    """Used amounts per bin and class, against fixed capacities."""

    def __init__(self, capacity: Capacity, used: dict[str, dict[str, int]]
                 ) -> None:
        self.capacity = capacity
        self.used = used

    @classmethod
    def start(cls, capacity: Capacity, used: Used) -> _State:
        return cls(capacity, {b: dict(used.get(b, {})) for b in capacity})

    def copy(self) -> _State:
        return _State(self.capacity, {b: dict(u) for b, u in
                                      self.used.items()})

    def options(self, item: Item, scale: dict[str, float]) -> list[Option]:
        """The bins ``item`` fits in, with the room it would leave."""
        found = []
        for bin_ in item.bins:
            left = self.left(item, bin_, scale)
            if left is not None:
                found.append((bin_, left))
        return found

    def left(self, item: Item, bin_: str, scale: dict[str, float]
             ) -> list[float] | None:
        """The room per class ``item`` would leave in ``bin_``, as shares;
        None if it does not fit."""
        cap, used = self.capacity[bin_], self.used[bin_]
        left = []
        for rc, n in item.demand:  # a plain loop: this is the hot path
            total, after = cap.get(rc, 0), used.get(rc, 0) + n
            if after > total:
                return None
            left.append((total - after) / scale[rc])
        return left

    def add(self, item: Item, bin_: str, sign: int = 1) -> None:
        used = self.used[bin_]
        for rc, n in item.demand:
            used[rc] = used.get(rc, 0) + sign * n

    def slack(self, bin_: str, rc: str) -> float:
        return self.capacity[bin_].get(rc, 0) - self.used[bin_].get(rc, 0)

    def room(self) -> dict[str, dict[str, float]]:
        return {b: {rc: self.slack(b, rc) for rc in cap}
                for b, cap in self.capacity.items()}


def _components(items: Sequence[Item]) -> list[list[int]]:
    """Groups of items linked by a shared (bin, class), in item order."""
    parent = list(range(len(items)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # Items with the same bins and classes are linked outright; only one
    # of each kind needs the (bin, class) pass.
    kinds: dict[tuple[tuple[str, ...], tuple[str, ...]], int] = {}
    owner: dict[tuple[str, str], int] = {}
    for index, item in enumerate(items):
        kind = (item.bins, tuple(rc for rc, _ in item.demand))
        if kind in kinds:
            parent[find(index)] = find(kinds[kind])
            continue
        kinds[kind] = index
        for bin_ in item.bins:
            for rc in kind[1]:
                first = owner.setdefault((bin_, rc), index)
                parent[find(index)] = find(first)
    groups: dict[int, list[int]] = {}
    for index in range(len(items)):
        groups.setdefault(find(index), []).append(index)
    return list(groups.values())


def _pack_component(items: Sequence[Item], component: list[int],
                    state: _State, budget: int,
                    affinity: Affinity) -> Result:
    scale = _scale(items, component, state)
    best: Result | None = None
    orders = _orders(items, component, scale)
    first = next(orders)  # biggest first: also the exact search's order
    for order in itertools.chain([first], orders):
        for choose in (_worst_fit, _best_fit, _first_fit):
            result = _greedy(items, order, state.copy(), choose, scale,
                             affinity)
            if result.ok:
                return result
            if best is None or len(result.unplaced) < len(best.unplaced):
                best = result
    assert best is not None
    if len(component) > EXACT_ITEM_LIMIT:
        return dataclasses.replace(best, exhausted=True)
    found, exhausted = _Search(items, first, state, budget).run()
    if found is not None:
        return Result(found, (), {})
    return dataclasses.replace(best, exhausted=exhausted)


def _scale(items: Sequence[Item], component: list[int], state: _State
           ) -> dict[str, float]:
    """Total room per class over the component's bins, to compare classes
    of different units (VCPU against MEMORY_MB)."""
    bins = {b for i in component for b in items[i].bins}
    rcs = {rc for i in component for rc, _ in items[i].demand}
    return {rc: max(1.0, sum(max(0.0, state.slack(b, rc)) for b in bins))
            for rc in rcs}


def _orders(items: Sequence[Item], component: list[int],
            scale: dict[str, float]) -> Iterator[list[int]]:
    """Item orders to try, biggest first by several measures."""
    def size(i: int) -> tuple[float, float, str, int]:
        shares = [n / scale[rc] for rc, n in items[i].demand]
        return (-max(shares), -sum(shares), items[i].consumer, i)

    def by_class(rc: str) -> Callable[[int], tuple[int, float, str, int]]:
        def key(i: int) -> tuple[int, float, str, int]:
            return (-dict(items[i].demand).get(rc, 0), size(i)[0],
                    items[i].consumer, i)
        return key

    # Sorted only when asked for: the first order usually succeeds.
    yield sorted(component, key=size)
    if len(scale) > 1:
        yield sorted(component, key=lambda i: size(i)[1:])
        for rc in sorted(scale):
            yield sorted(component, key=by_class(rc))


Chooser = Callable[[list[Option]], str]


def _best_fit(options: list[Option]) -> str:
    return min(options, key=lambda o: sum(o[1]))[0]


def _worst_fit(options: list[Option]) -> str:
    if len(options) == 1:
        return options[0][0]
    return max(options, key=lambda o: min(o[1]))[0]


def _first_fit(options: list[Option]) -> str:
    return options[0][0]


def _greedy(items: Sequence[Item], order: list[int], state: _State,
            choose: Chooser, scale: dict[str, float],
            affinity: Affinity) -> Result:
    assignment: dict[int, str] = {}
    unplaced: list[int] = []
    # Equal items come in runs (the orders sort by size), and placing one
    # changes only the bin it took: within a run, only that bin's option
    # is computed again.
    kind: tuple[object, ...] = ()
    options: dict[str, list[float]] = {}
    for index in order:
        item = items[index]
        if (item.demand, item.bins) != kind:
            kind = (item.demand, item.bins)
            options = dict(state.options(item, scale))
        if not options:
            unplaced.append(index)
            continue
        bin_ = choose(affinity.prefer(item.consumer, list(options.items())))
        state.add(item, bin_)
        left = state.left(item, bin_, scale)
        if left is None:
            del options[bin_]
        else:
            options[bin_] = left
        assignment[index] = bin_
    return Result(assignment, tuple(sorted(unplaced)), state.room())


class _Search:
    """Exact depth-first search over one component.

    Prunes when the remaining demand of a class exceeds the room left for
    it, tries interchangeable bins once, and remembers states proven dead
    up to a permutation of interchangeable bins (which also covers
    identical items placed in swapped bins).
    """

    def __init__(self, items: Sequence[Item], order: list[int],
                 state: _State, budget: int) -> None:
        self.items = [items[i] for i in order]
        self.order = order
        self.budget = budget
        self.bins = sorted({b for it in self.items for b in it.bins})
        self.rcs = sorted({rc for it in self.items for rc, _ in it.demand})
        self.cap = [[state.capacity[b].get(rc, 0.0) for rc in self.rcs]
                    for b in self.bins]
        self.used = [[state.used[b].get(rc, 0) for rc in self.rcs]
                     for b in self.bins]
        self.demand = [self._vector(it) for it in self.items]
        self.allowed = [sorted(self.bins.index(b) for b in it.bins)
                        for it in self.items]
        self.suffix = self._suffix()
        self.bin_kind = self._bin_kinds()
        kinds = sorted(set(self.bin_kind), key=repr)
        self.kind_id = [kinds.index(k) for k in self.bin_kind]
        self.dead: set[tuple[object, ...]] = set()
        self.choice = [0] * len(self.items)
        self.nodes = 0

    def _vector(self, item: Item) -> list[int]:
        amounts = dict(item.demand)
        return [amounts.get(rc, 0) for rc in self.rcs]

    def _suffix(self) -> list[list[int]]:
        suffix = [[0] * len(self.rcs)]
        for vector in reversed(self.demand):
            suffix.append([a + b for a, b in zip(vector, suffix[-1],
                                                 strict=True)])
        return list(reversed(suffix))

    def _bin_kinds(self) -> list[tuple[object, ...]]:
        """Bins with the same capacity that every item may use alike are
        interchangeable."""
        return [(tuple(self.cap[b]),
                 tuple(b in allowed for allowed in self.allowed))
                for b in range(len(self.bins))]

    def run(self) -> tuple[dict[int, str] | None, bool]:
        """(assignment, False) on success; (None, exhausted) otherwise."""
        try:
            found = self._place(0)
        except _BudgetSpent:
            return None, True
        if not found:
            return None, False
        return ({self.order[i]: self.bins[b]
                 for i, b in enumerate(self.choice)}, False)

    def _place(self, i: int) -> bool:
        if i == len(self.items):
            return True
        key = self._key(i)
        if key in self.dead or not self._room_left(i):
            return False
        self.nodes += 1
        if self.nodes > self.budget:
            raise _BudgetSpent()
        tried: set[tuple[object, ...]] = set()
        for b in self._bins_for(i):
            kind = (self.bin_kind[b], tuple(self.used[b]))
            if kind in tried or not self._fits(i, b):
                continue
            tried.add(kind)
            self._add(i, b, 1)
            self.choice[i] = b
            if self._place(i + 1):
                return True
            self._add(i, b, -1)
        self.dead.add(key)
        return False

    def _key(self, i: int) -> tuple[object, ...]:
        """The state, the same for any permutation of interchangeable
        bins."""
        return (i, tuple(sorted((self.kind_id[b], tuple(self.used[b]))
                                for b in range(len(self.bins)))))

    def _bins_for(self, i: int) -> list[int]:
        """Allowed bins, the one with the most room first (as the balanced
        greedy): on near-full hosts it reaches a solution soonest."""
        def room(b: int) -> float:
            return sum((c - u) / c for c, u in zip(
                self.cap[b], self.used[b], strict=True) if c)
        return sorted(self.allowed[i], key=lambda b: (-room(b), b))

    def _fits(self, i: int, b: int) -> bool:
        cap, used = self.cap[b], self.used[b]
        return all(u + d <= c for c, u, d in zip(cap, used, self.demand[i],
                                                 strict=True))

    def _add(self, i: int, b: int, sign: int) -> None:
        used = self.used[b]
        for r, d in enumerate(self.demand[i]):
            used[r] += sign * d

    def _room_left(self, i: int) -> bool:
        for r, need in enumerate(self.suffix[i]):
            if need and need > sum(max(0.0, self.cap[b][r] - self.used[b][r])
                                   for b in range(len(self.bins))):
                return False
        return True


class _BudgetSpent(Exception):
    pass
