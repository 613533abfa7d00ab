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

"""Layout, Child and Inventory validation, composition and flat
equivalents."""

from __future__ import annotations

import pytest

from nested_pivot import Child
from nested_pivot import exception
from nested_pivot import Inventory
from nested_pivot import Layout
from nested_pivot.layout import compose
from nested_pivot.layout import MAX_INT


def test_inventory_defaults_are_placements():
    assert Inventory.from_value(4) == Inventory(
        total=4, reserved=0, min_unit=1, max_unit=MAX_INT, step_size=1,
        allocation_ratio=1.0)
    assert Inventory.from_value({'total': 4, 'reserved': 1}).capacity == 3


@pytest.mark.parametrize('record,match', [
    ({'total': 0}, 'total must be at least 1'),
    ({'total': -1}, 'total must be an integer'),
    ({'total': 2.5}, 'total must be an integer'),
    ({'total': True}, 'total must be an integer'),
    ({'total': 4, 'reserved': 5}, 'reserved 5 exceeds total 4'),
    ({'total': 4, 'min_unit': 3, 'max_unit': 2}, 'min_unit 3 and max_unit 2'),
    ({'total': 4, 'step_size': 0}, 'step_size must be at least 1'),
    ({'total': 4, 'allocation_ratio': 0}, 'allocation_ratio'),
    ({'total': 4, 'allocation_ratio': float('nan')}, 'allocation_ratio'),
    ({'total': 4, 'colour': 'red'}, 'unknown inventory fields'),
    ({'reserved': 1}, 'total is required'),
    ('4', 'expected a record or a total'),
])
def test_bad_inventory_names_the_child_and_class(record, match):
    with pytest.raises(exception.InvalidLayout, match=match) as err:
        Child('NUMA0', inventory={'VCPU': record})
    assert 'child NUMA0: VCPU' in str(err.value)


@pytest.mark.parametrize('kwargs,match', [
    ({'name': ''}, 'non-empty string'),
    ({'name': 'a', 'inventory': {'vcpu': 1}}, "resource class 'vcpu'"),
    ({'name': 'a', 'inventory': {'NOT_A_CLASS': 1}}, 'NOT_A_CLASS'),
    ({'name': 'a', 'inventory': {'CUSTOM_bad': 1}}, 'CUSTOM_bad'),
    ({'name': 'a', 'traits': ['NOT_A_TRAIT']}, 'NOT_A_TRAIT'),
    ({'name': 'a', 'traits': 'HW_NUMA_ROOT'}, 'list of names'),
    ({'name': 'a', 'inventory': [1]}, 'must be a mapping'),
    ({'name': 'a', 'parent': {'VCPU': 1}}, 'parent must be a child name'),
])
def test_bad_child(kwargs, match):
    with pytest.raises(exception.InvalidLayout, match=match):
        Child(**kwargs)


def test_custom_names_are_accepted():
    child = Child('x', inventory={'CUSTOM_MAGIC': 1}, traits=['CUSTOM_T'])
    assert child.traits == frozenset({'CUSTOM_T'})


@pytest.mark.parametrize('children,match', [
    ([Child('a'), Child('a')], "duplicate child name 'a'"),
    ([Child('a', parent='ghost')], "parent 'ghost' is not a child"),
    ([Child('a', parent='b'), Child('b', parent='a')], 'a, b form a parent '
                                                       'cycle'),
    ([Child('a', parent='a')], 'parent cycle'),
    (['a'], 'must be Child objects'),
])
def test_bad_layout(children, match):
    with pytest.raises(exception.InvalidLayout, match=match):
        Layout(children)


def test_children_are_ordered_parents_first():
    layout = Layout([Child('pf', parent='n'), Child('n')])
    assert [c.name for c in layout.children] == ['n', 'pf']


def test_compose_merges_same_named_children():
    numa = Layout([Child('N0', inventory={'VCPU': 4},
                         traits=['HW_NUMA_ROOT'])])
    dev = Layout([Child('N0', traits=['HW_NUMA_ROOT']),
                  Child('pf0', parent='N0', inventory={'SRIOV_NET_VF': 8})])
    layout = compose(numa, dev)
    assert [c.name for c in layout.children] == ['N0', 'pf0']
    assert set(layout.children[0].inventory) == {'VCPU'}
    assert layout.resource_classes == {'VCPU', 'SRIOV_NET_VF'}


@pytest.mark.parametrize('other,match', [
    (Layout([Child('N0', inventory={'VCPU': 2})]), 'gets VCPU twice'),
    (Layout([Child('X'), Child('N0', parent='X')]), 'has two parents'),
])
def test_compose_conflicts(other, match):
    with pytest.raises(exception.InvalidLayout, match=match):
        Layout([Child('N0', inventory={'VCPU': 4})]) + other


def test_flat_inventory_sums_totals_and_reserved():
    layout = Layout([
        Child('a', inventory={'VCPU': {'total': 8, 'reserved': 1,
                                       'max_unit': 8}}),
        Child('b', inventory={'VCPU': {'total': 4, 'max_unit': 4}})])
    assert layout.flat_inventory() == {'VCPU': Inventory(
        total=12, reserved=1, max_unit=12)}


@pytest.mark.parametrize('field,a,b', [
    ('allocation_ratio', 1.0, 4.0), ('step_size', 1, 2), ('min_unit', 1, 2)])
def test_flat_inventory_refuses_inconsistent_records(field, a, b):
    layout = Layout([Child('a', inventory={'VCPU': {'total': 8, field: a}}),
                     Child('b', inventory={'VCPU': {'total': 8, field: b}})])
    with pytest.raises(exception.InvalidLayout, match=field):
        layout.flat_inventory()


def test_flat_layout():
    assert Layout(children=[]).is_flat and Layout().flat_inventory() == {}


def test_flat_form_owns_the_children_by_name():
    layout = Layout([Child('N0', inventory={'VCPU': 4})],
                    managed_traits={'CUSTOM_PHYSNET_*'})
    flat = layout.flat()
    assert flat.is_flat and flat.names == {'N0'}
    assert flat.managed_traits == layout.managed_traits
    assert flat.flat().names == {'N0'}


def test_compose_merges_ownership_and_managed_traits():
    a = Layout([Child('N0')], managed_traits={'CUSTOM_A_*'})
    b = Layout(adopted={'amd_sev'}, managed_traits={'CUSTOM_B'})
    both = a + b
    assert both.names == {'N0', 'amd_sev'}
    assert both.managed_traits == {'CUSTOM_A_*', 'CUSTOM_B'}


@pytest.mark.parametrize('kwargs', [
    {'adopted': 'N0'}, {'adopted': [3]}, {'managed_traits': ['']},
    {'managed_traits': 5}])
def test_bad_ownership_fields(kwargs):
    with pytest.raises(exception.InvalidLayout, match='set of non-empty'):
        Layout(**kwargs)
