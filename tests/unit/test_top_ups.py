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

"""A hint that asks for more of a class the layout heals than a consumer
holds: its amounts are what the consumer holds after the pivot, and the
difference is healed there (an instance whose isolated emulator thread
Train's reshape did not count)."""

from __future__ import annotations

import dataclasses

import pytest

import nested_pivot
from nested_pivot import Child
from nested_pivot import engine
from nested_pivot import exception
from nested_pivot import Layout
from nested_pivot.engine import allocations as records
from tests.unit import helpers as h

CELLS = Layout((Child('NUMA0', inventory={'PCPU': 4, 'MEMORY_MB': 4096}),
                Child('NUMA1', inventory={'PCPU': 4, 'MEMORY_MB': 4096})),
               heals=frozenset(['PCPU']))
HINT = {'PCPU': {'NUMA0': 3}, 'MEMORY_MB': {'NUMA0': 1024}}


def _node(held: dict[str, int] | None = None):
    tree, root = h.flat_node(inventory={
        'PCPU': {'total': 8}, 'MEMORY_MB': {'total': 8192}})
    allocs = h.allocations(h.consumer('vm', {root: held or {
        'PCPU': 2, 'MEMORY_MB': 1024}}))
    return tree, root, allocs


def test_the_missing_pcpu_is_healed_on_the_hinted_cell():
    tree, root, allocs = _node()
    vm = h.uuid('vm')
    plan = nested_pivot.reshape(tree, allocs, layout=CELLS,
                                hints={vm: HINT})
    numa0 = h.child(tree, 'cn1_NUMA0')
    assert h.on(allocs, vm) == {numa0: {'PCPU': 3, 'MEMORY_MB': 1024}}
    assert plan.heals == (engine.Heal(vm, 'PCPU', 1, numa0),)
    assert {(m.resource_class, m.amount) for m in plan.moves} == {
        ('PCPU', 2), ('MEMORY_MB', 1024)}
    [change] = engine.amount_changes(plan, records.parse(
        h.allocations(h.consumer('vm', {root: {'PCPU': 2,
                                               'MEMORY_MB': 1024}}))))
    assert (change.before, change.after) == (
        {'MEMORY_MB': 1024, 'PCPU': 2}, {'MEMORY_MB': 1024, 'PCPU': 3})
    assert nested_pivot.plan(tree, allocs, layout=CELLS,
                             hints={vm: HINT}).is_noop


def test_a_consumer_pivoted_already_is_topped_up_in_place():
    """Fails when a consumer already on its cell, one PCPU short, is not
    healed there (or is moved)."""
    tree, _, allocs = _node()
    vm = h.uuid('vm')
    short = {'PCPU': {'NUMA0': 2}, 'MEMORY_MB': {'NUMA0': 1024}}
    nested_pivot.reshape(tree, allocs, layout=CELLS, hints={vm: short})
    plan = nested_pivot.reshape(tree, allocs, layout=CELLS,
                                hints={vm: HINT})
    numa0 = h.child(tree, 'cn1_NUMA0')
    assert plan.moves == () and plan.heals == (
        engine.Heal(vm, 'PCPU', 1, numa0),)
    assert h.on(allocs, vm) == {numa0: {'PCPU': 3, 'MEMORY_MB': 1024}}


def test_a_class_the_layout_does_not_heal_is_never_topped_up():
    tree, _, allocs = _node()
    snapshot = h.snapshot(tree)
    with pytest.raises(exception.InvalidHint,
                       match='PCPU amounts add up to 3, but the consumer '
                             'moves 2'):
        nested_pivot.reshape(tree, allocs, layout=dataclasses.replace(
            CELLS, heals=frozenset()), hints={h.uuid('vm'): HINT})
    assert h.snapshot(tree) == snapshot


def test_less_than_held_is_not_a_top_up():
    tree, _, allocs = _node()
    with pytest.raises(exception.InvalidHint, match='add up to 1'):
        nested_pivot.plan(tree, allocs, layout=CELLS, hints={
            h.uuid('vm'): {'PCPU': {'NUMA0': 1}}})


def test_what_stays_elsewhere_is_refused_naming_it():
    tree, _, allocs = _node()
    vm = h.uuid('vm')
    nested_pivot.reshape(tree, allocs, layout=CELLS, hints={vm: {
        'PCPU': {'NUMA1': 2}, 'MEMORY_MB': {'NUMA1': 1024}}})
    with pytest.raises(exception.InvalidHint,
                       match=r'asks for cn1_NUMA0: 3 after the pivot, but '
                             r'the consumer keeps cn1_NUMA1: 2 where it '
                             r'is'):
        nested_pivot.plan(tree, allocs, layout=CELLS, hints={vm: HINT})


def test_a_top_up_beyond_the_cell_cannot_pivot():
    tree, _, allocs = _node()
    snapshot = h.snapshot(tree)
    with pytest.raises(exception.CannotPivot,
                       match='would then hold 5 of 4'):
        nested_pivot.reshape(tree, allocs, layout=CELLS, hints={
            h.uuid('vm'): {'PCPU': {'NUMA0': 5},
                           'MEMORY_MB': {'NUMA0': 1024}}})
    assert h.snapshot(tree) == snapshot
