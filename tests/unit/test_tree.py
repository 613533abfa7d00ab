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

"""nested_pivot.ProviderTree behaves as nova's ProviderTree.

Under ``tox -e nova`` the same tests run against nova's own class, so a
difference between the two fails here.
"""

from __future__ import annotations

import pytest

from tests.unit import helpers as h


def _tree():
    tree = h.new_tree()
    tree.new_root('cn1', h.uuid('cn1'), generation=3)
    tree.new_child('cn1_NUMA0', 'cn1', uuid=h.uuid('n0'))
    tree.new_child('cn1_pf0', h.uuid('n0'), uuid=h.uuid('pf0'))
    tree.new_child('cn1_NUMA1', h.uuid('cn1'), uuid=h.uuid('n1'))
    return tree


def test_uuids_are_top_down():
    tree = _tree()
    uuids = tree.get_provider_uuids()
    assert uuids[0] == h.uuid('cn1')
    assert uuids.index(h.uuid('n0')) < uuids.index(h.uuid('pf0'))
    assert set(uuids) == {h.uuid(x) for x in ('cn1', 'n0', 'pf0', 'n1')}
    assert tree.get_provider_uuids('cn1_NUMA0') == [h.uuid('n0'),
                                                     h.uuid('pf0')]
    assert set(tree.get_provider_uuids_in_tree('cn1_pf0')) == set(uuids)


def test_lookup_by_name_or_uuid():
    tree = _tree()
    data = tree.data('cn1_pf0')
    assert (data.uuid, data.parent_uuid, data.generation) == (
        h.uuid('pf0'), h.uuid('n0'), None)
    assert tree.data(h.uuid('cn1')).generation == 3
    assert tree.exists('cn1_NUMA1') and not tree.exists('nope')
    with pytest.raises(ValueError):
        tree.data('nope')


def test_duplicates_and_unknown_parents_raise():
    tree = _tree()
    with pytest.raises(ValueError):
        tree.new_child('cn1_NUMA0', 'cn1')
    with pytest.raises(ValueError):
        tree.new_child('x', 'ghost')
    with pytest.raises(ValueError):
        tree.new_root('cn1', h.uuid('cn1'))


def test_remove_takes_descendants():
    tree = _tree()
    tree.remove('cn1_NUMA0')
    assert not tree.exists('cn1_pf0') and not tree.exists(h.uuid('pf0'))
    assert tree.get_provider_uuids() == [h.uuid('cn1'), h.uuid('n1')]
    with pytest.raises(ValueError):
        tree.remove('cn1_NUMA0')


def test_inventory_and_change_detection():
    tree = _tree()
    inv = {'VCPU': {'total': 8, 'allocation_ratio': 4.0}}
    assert tree.update_inventory('cn1_NUMA0', inv, generation=9) is True
    assert tree.data('cn1_NUMA0').generation == 9
    assert tree.has_inventory('cn1_NUMA0')
    assert not tree.has_inventory_changed('cn1_NUMA0', {'VCPU': {'total': 8}})
    assert tree.has_inventory_changed('cn1_NUMA0', {'VCPU': {'total': 9}})
    assert tree.update_inventory('cn1_NUMA0', inv) is False
    copy_ = tree.data('cn1_NUMA0').inventory
    copy_['VCPU']['total'] = 1
    assert tree.data('cn1_NUMA0').inventory['VCPU']['total'] == 8


def test_traits_and_aggregates():
    tree = _tree()
    assert tree.update_traits('cn1_NUMA0', ['HW_NUMA_ROOT']) is True
    tree.add_traits('cn1_NUMA0', 'CUSTOM_A')
    tree.remove_traits('cn1_NUMA0', 'HW_NUMA_ROOT')
    assert tree.data('cn1_NUMA0').traits == {'CUSTOM_A'}
    assert tree.has_traits('cn1_NUMA0', ['CUSTOM_A'])
    assert not tree.have_traits_changed('cn1_NUMA0', ['CUSTOM_A'])
    agg = h.uuid('agg')
    assert tree.update_aggregates('cn1', [agg]) is True
    assert tree.in_aggregates('cn1', [agg])
    tree.remove_aggregates('cn1', agg)
    assert tree.data('cn1').aggregates == set()


def test_populate_from_iterable_adds_and_replaces():
    tree = _tree()
    tree.populate_from_iterable([
        {'uuid': h.uuid('n1'), 'name': 'cn1_NUMA1', 'generation': 4,
         'parent_provider_uuid': h.uuid('cn1')},
        {'uuid': h.uuid('new'), 'name': 'cn1_gpu', 'generation': 0,
         'parent_provider_uuid': h.uuid('n1')}])
    assert tree.data('cn1_NUMA1').generation == 4
    assert tree.data('cn1_gpu').parent_uuid == h.uuid('n1')
    with pytest.raises(ValueError):
        tree.populate_from_iterable([{'uuid': h.uuid('z'), 'name': 'z',
                                      'parent_provider_uuid': 'ghost'}])
