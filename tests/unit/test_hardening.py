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

"""Bad input to the library: a clear error, and nothing changed."""

from __future__ import annotations

import copy
from typing import Any

import pytest

import nested_pivot
from nested_pivot import Child
from nested_pivot import exception
from nested_pivot import Layout
from nested_pivot import layouts
from nested_pivot import names
from nested_pivot import nova as hook
from tests.unit import helpers as h

NUMA2 = layouts.numa([layouts.NumaCell(vcpu=8, memory_mb=8192),
                      layouts.NumaCell(vcpu=8, memory_mb=8192)])


@pytest.mark.parametrize('name', ['', '   ', '\t', None, 5, 'x' * 201])
def test_node_names_that_could_match_anything_are_refused(name):
    with pytest.raises(exception.InvalidNodeName):
        names.check_node_name(name)


def test_the_hook_refuses_an_empty_node_name():
    tree, _ = h.flat_node()
    with pytest.raises(hook._nova_exceptions().failed,
                       match='empty or blank'):
        hook.update_provider_tree(tree, '', NUMA2)


def test_cells_with_different_ratios_roll_back_to_the_flat_records():
    """One cell for pinned CPUs (ratio 1.0), one shared (4.0): no flat sum
    exists, but the flat records the node came from are given back."""
    flat = {'VCPU': {'total': 16, 'allocation_ratio': 2.0}}
    tree, root = h.flat_node(inventory=flat)
    layout = Layout([
        Child('N0', inventory={'VCPU': {'total': 8, 'allocation_ratio': 1.0}}),
        Child('N1', inventory={'VCPU': {'total': 8,
                                        'allocation_ratio': 4.0}})])
    allocs = h.allocations(h.consumer('vm', {root: {'VCPU': 4}}))
    nested_pivot.reshape(tree, allocs, layout=layout)
    with pytest.raises(exception.InvalidLayout, match='allocation_ratio'):
        nested_pivot.plan(tree, allocs, layout=layout.flat())
    nested_pivot.reshape(tree, allocs, layout=layout.flat(),
                         root_inventory=flat)
    assert tree.get_provider_uuids() == [root]
    assert tree.data(root).inventory['VCPU']['allocation_ratio'] == 2.0
    assert h.on(allocs, h.uuid('vm')) == {root: {'VCPU': 4}}


@pytest.mark.parametrize('allocations', [
    {5: {'allocations': {}}},
    {'c': {'allocations': {7: {'resources': {'VCPU': 1}}}}},
    {'': {'allocations': {}}},
])
def test_keys_that_are_not_strings_are_refused_before_any_change(
        allocations):
    tree, root = h.flat_node()
    real = h.allocations(h.consumer('vm', {root: {'VCPU': 2}}))
    allocations = {**real, **allocations}
    before, allocs_before = h.snapshot(tree), copy.deepcopy(allocations)
    with pytest.raises(exception.InvalidAllocations, match='keys must be'):
        nested_pivot.reshape(tree, allocations, layout=NUMA2)
    assert h.snapshot(tree) == before and allocations == allocs_before


@pytest.mark.parametrize('kwargs,match', [
    ({'provider_tree': None}, 'provider_tree must be a ProviderTree'),
    ({'root_inventory': [('VCPU', 4)]}, 'root_inventory must be a mapping'),
    ({'budget': 'x'}, 'budget must be a positive integer'),
    ({'budget': 0}, 'budget must be a positive integer'),
    ({'layout': 'NUMA'}, 'layout must be a Layout'),
])
def test_api_type_errors(kwargs, match):
    tree, _ = h.flat_node()
    arguments: dict[str, Any] = {'provider_tree': tree, 'allocations': {},
                                 'layout': NUMA2, **kwargs}
    with pytest.raises(TypeError, match=match):
        nested_pivot.reshape(**arguments)


def test_adding_something_else_to_a_layout_is_a_type_error():
    with pytest.raises(TypeError):
        NUMA2 + 5  # type: ignore[operator]


def test_pivot_and_status_need_a_client():
    with pytest.raises(TypeError, match='PlacementClient'):
        nested_pivot.pivot(None, 'cn1', NUMA2)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match='PlacementClient'):
        nested_pivot.status(None, 'cn1', NUMA2)  # type: ignore[arg-type]


def test_a_hint_for_a_consumer_not_on_the_node_is_refused():
    tree, root = h.flat_node()
    allocs = h.allocations(h.consumer('vm', {root: {'VCPU': 2}}),
                           h.consumer('elsewhere', {h.uuid('cn2'):
                                                    {'VCPU': 2}}))
    for ghost in (h.uuid('typo'), h.uuid('elsewhere')):
        with pytest.raises(exception.InvalidHint,
                           match='no allocations on node cn1'):
            nested_pivot.plan(tree, allocs, layout=NUMA2,
                              hints={ghost: 'NUMA0'})


def test_a_child_name_too_long_for_placement_is_refused():
    tree, _ = h.flat_node('n' * 150)
    with pytest.raises(exception.InvalidLayout, match='Placement allows 200'):
        nested_pivot.plan(tree, {}, layout=Layout([Child('c' * 60)]))
