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

"""Invariants of the engine over random trees, layouts and allocations."""

from __future__ import annotations

import copy
import itertools
from typing import Any

from hypothesis import assume
from hypothesis import given
from hypothesis import strategies as st

import nested_pivot
from nested_pivot import Child
from nested_pivot import exception
from nested_pivot import Inventory
from nested_pivot import Layout
from nested_pivot.engine import packing
from tests.unit import helpers as h

MOVABLE = ('VCPU', 'MEMORY_MB', 'SRIOV_NET_VF')
SHARE = h.uuid('sharing-provider')


@st.composite
def inventories(draw: Any) -> dict[str, Any]:
    total = draw(st.integers(1, 16))
    return {'total': total,
            'reserved': draw(st.integers(0, min(2, total))),
            'allocation_ratio': draw(st.sampled_from([1.0, 1.5, 2.0])),
            'step_size': draw(st.sampled_from([1, 1, 2])),
            'max_unit': draw(st.sampled_from([16, 16, 4]))}


@st.composite
def layouts_(draw: Any) -> Layout:
    count = draw(st.integers(1, 4))
    children = []
    for i in range(count):
        parent = draw(st.sampled_from([None] + [f'c{j}' for j in range(i)]))
        classes = draw(st.sets(st.sampled_from(MOVABLE), max_size=2))
        inventory = {rc: draw(inventories()) for rc in sorted(classes)}
        children.append(Child(f'c{i}', parent=parent, inventory=inventory))
    return Layout(tuple(children))


@st.composite
def scenarios(draw: Any) -> tuple[Layout, dict[str, Any], dict[str, Any]]:
    layout = draw(layouts_())
    classes = sorted(layout.resource_classes)
    root_inventory = {rc: {'total': 1000} for rc in (*classes, 'DISK_GB')}
    root = h.uuid('cn1')
    consumers = []
    for i in range(draw(st.integers(0, 7))):
        held = draw(st.sets(st.sampled_from([*classes, 'DISK_GB'])))
        resources = {rc: draw(st.integers(1, 6)) for rc in sorted(held)}
        allocs = {root: resources} if resources else {}
        if draw(st.booleans()):
            allocs[SHARE] = {'DISK_GB': draw(st.integers(1, 9))}
        if allocs:
            consumers.append(h.consumer(f'v{i}', allocs))
    return layout, root_inventory, h.allocations(*consumers)


def _usage(allocs: dict[str, Any]) -> dict[tuple[str, str], int]:
    usage: dict[tuple[str, str], int] = {}
    for rec in allocs.values():
        for rp, entry in rec['allocations'].items():
            for rc, n in entry['resources'].items():
                usage[(rp, rc)] = usage.get((rp, rc), 0) + n
    return usage


def _assert_valid(tree: Any, allocs: dict[str, Any]) -> None:
    for (rp, rc), used in _usage(allocs).items():
        if not tree.exists(rp):
            continue
        inventory = tree.data(rp).inventory
        assert rc in inventory, f'{rc} left on {rp} without inventory'
        assert used <= Inventory.from_value(inventory[rc]).capacity


def _assert_units(tree: Any, allocs: dict[str, Any],
                  moved: set[tuple[str, str, str]]) -> None:
    for consumer, rp, rc in moved:
        amount = allocs[consumer]['allocations'][rp]['resources'][rc]
        assert Inventory.from_value(tree.data(rp).inventory[rc]).admits(
            amount)


@given(scenarios())
def test_reshape_invariants(scenario):
    layout, root_inventory, allocs = scenario
    tree, root = h.flat_node(inventory=root_inventory)
    original = copy.deepcopy(allocs)
    tree_before = h.snapshot(tree)
    try:
        plan = nested_pivot.reshape(tree, allocs, layout=layout)
    except exception.CannotPivot:
        # Either a full valid plan or nothing changed at all.
        assert allocs == original and h.snapshot(tree) == tree_before
        return
    assert h.totals(allocs) == h.totals(original)
    _assert_valid(tree, allocs)
    _assert_units(tree, allocs, {(m.consumer, m.target, m.resource_class)
                                 for m in plan.moves})
    for c, rec in original.items():
        if SHARE in rec['allocations']:
            assert allocs[c]['allocations'][SHARE] == \
                rec['allocations'][SHARE]
        if c not in plan.consumers:
            assert allocs[c] == rec
    assert not set(tree.data(root).inventory) & layout.resource_classes
    again = nested_pivot.reshape(tree, allocs, layout=layout)
    assert again.is_noop


@given(scenarios())
def test_rollback_restores_every_allocation_to_the_root(scenario):
    layout, root_inventory, allocs = scenario
    tree, root = h.flat_node(inventory=root_inventory)
    original = copy.deepcopy(allocs)
    try:
        nested_pivot.reshape(tree, allocs, layout=layout)
    except exception.CannotPivot:
        assume(False)
    pivoted, tree_pivoted = copy.deepcopy(allocs), h.snapshot(tree)
    try:
        nested_pivot.reshape(tree, allocs, layout=Layout())
    except exception.InvalidLayout as err:
        # Children whose units or ratios differ have no flat equivalent.
        assert 'differs across providers' in str(err)
        assert allocs == pivoted and h.snapshot(tree) == tree_pivoted
        return
    assert tree.get_provider_uuids() == [root]
    assert {c: h.on(allocs, c) for c in allocs} == {
        c: h.on(original, c) for c in original}


# -- the packer against brute force ---------------------------------------

@st.composite
def packing_problems(draw: Any) -> tuple[list[packing.Item], dict, dict]:
    bins = [f'b{i}' for i in range(draw(st.integers(2, 3)))]
    rcs = ['A', 'B'][:draw(st.integers(1, 2))]
    capacity = {b: {rc: float(draw(st.integers(2, 12))) for rc in rcs}
                for b in bins}
    used = {b: {rc: draw(st.integers(0, 2)) for rc in rcs} for b in bins}
    items = []
    for i in range(draw(st.integers(1, 6))):
        demand = tuple((rc, draw(st.integers(1, 6))) for rc in rcs)
        allowed = draw(st.lists(st.sampled_from(bins), min_size=1,
                                max_size=len(bins), unique=True))
        items.append(packing.Item(f'c{i}', demand, tuple(allowed)))
    return items, capacity, used


def _brute_force(items, capacity, used) -> bool:
    for choice in itertools.product(*(it.bins for it in items)):
        load = {b: dict(u) for b, u in used.items()}
        for item, b in zip(items, choice, strict=True):
            for rc, n in item.demand:
                load[b][rc] += n
        if all(load[b][rc] <= capacity[b][rc]
               for b in capacity for rc in capacity[b]):
            return True
    return False


@given(packing_problems())
def test_packer_finds_a_plan_whenever_brute_force_does(problem):
    items, capacity, used = problem
    result = packing.pack(items, capacity, used)
    assert result.ok == _brute_force(items, capacity, used)
    if result.ok:
        load = {b: dict(u) for b, u in used.items()}
        for index, b in result.assignment.items():
            assert b in items[index].bins
            for rc, n in items[index].demand:
                load[b][rc] += n
        assert all(load[b][rc] <= capacity[b][rc]
                   for b in capacity for rc in capacity[b])
        assert sorted(result.assignment) == list(range(len(items)))


@st.composite
def numa_hosts(draw: Any) -> tuple[Layout, dict[str, Any]]:
    cells = draw(st.integers(2, 3))
    layout = Layout(tuple(
        Child(f'N{i}', inventory={'VCPU': draw(st.integers(2, 10)),
                                  'MEMORY_MB': draw(st.integers(2, 10))})
        for i in range(cells)))
    root = h.uuid('cn1')
    allocs = h.allocations(*(
        h.consumer(f'v{i}', {root: {'VCPU': draw(st.integers(1, 5)),
                                    'MEMORY_MB': draw(st.integers(1, 5))}})
        for i in range(draw(st.integers(1, 6)))))
    return layout, allocs


@given(numa_hosts())
def test_engine_pivots_whenever_brute_force_can(host):
    layout, allocs = host
    tree, root = h.flat_node(inventory={'VCPU': {'total': 100},
                                        'MEMORY_MB': {'total': 100}})
    items = [packing.Item(c, tuple(sorted(
        rec['allocations'][root]['resources'].items())),
        tuple(ch.name for ch in layout.children))
        for c, rec in allocs.items()]
    capacity = {ch.name: {rc: inv.capacity for rc, inv in
                          ch.inventory.items()} for ch in layout.children}
    used = {ch.name: {'VCPU': 0, 'MEMORY_MB': 0} for ch in layout.children}
    feasible = _brute_force(items, capacity, used)
    try:
        nested_pivot.reshape(tree, allocs, layout=layout)
    except exception.CannotPivot:
        assert not feasible
    else:
        assert feasible


@st.composite
def runs_of_items(draw: Any) -> tuple[list[packing.Item], dict, dict]:
    """Items of a few kinds, so that equal items come in runs."""
    bins = [f'b{i}' for i in range(draw(st.integers(1, 5)))]
    capacity = {b: {'A': float(draw(st.integers(0, 30))),
                    'B': float(draw(st.integers(0, 30)))} for b in bins}
    kinds = draw(st.lists(st.tuples(
        st.integers(1, 6), st.integers(1, 6),
        st.lists(st.sampled_from(bins), min_size=1, unique=True)),
        min_size=1, max_size=3))
    runs = draw(st.lists(st.tuples(st.integers(0, len(kinds) - 1),
                                   st.integers(2, 6)), max_size=5))
    picks = [k for k, length in runs for _ in range(length)]
    items = [packing.Item(f'c{i}', (('A', kinds[k][0]), ('B', kinds[k][1])),
                          tuple(kinds[k][2])) for i, k in enumerate(picks)]
    return items, capacity, {b: {} for b in bins}


def _reference_greedy(items, capacity, used, choose, scale):
    """The greedy pass computing every bin afresh for every item."""
    state = packing._State.start(capacity, used)
    assignment = {}
    for index, item in enumerate(items):
        options = state.options(item, scale)
        if options:
            assignment[index] = choose(options)
            state.add(item, assignment[index])
    return assignment


@given(runs_of_items(),
       st.sampled_from([packing._worst_fit, packing._best_fit,
                        packing._first_fit]))
def test_greedy_runs_recompute_only_the_bin_taken(problem, choose):
    """_greedy reuses the options of the item before when the item is
    equal: if a bin other than the one taken could change, or a bin that
    no longer fits stayed on offer, the two passes would differ."""
    items, capacity, used = problem
    scale = {'A': 7.0, 'B': 3.0}
    state = packing._State.start(capacity, used)
    result = packing._greedy(items, list(range(len(items))), state, choose,
                             scale, packing.Affinity({}))
    assert result.assignment == _reference_greedy(items, capacity, used,
                                                  choose, scale)
