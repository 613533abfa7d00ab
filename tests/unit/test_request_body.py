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

"""POST /reshaper bodies across microversions 1.30 to 1.39."""

from __future__ import annotations

import pytest

import nested_pivot
from nested_pivot import exception
from nested_pivot import Layout
from nested_pivot import layouts
from tests.unit import helpers as h

NUMA2 = layouts.numa([layouts.NumaCell(vcpu=8, memory_mb=8192),
                      layouts.NumaCell(vcpu=8, memory_mb=8192)])


def _plan(consumer_type=None):
    tree, root = h.flat_node()
    allocs = h.allocations(
        h.consumer('a', {root: {'VCPU': 1, 'MEMORY_MB': 512,
                                'DISK_GB': 1}}, consumer_type),
        h.consumer('stays', {root: {'DISK_GB': 4}}))
    return root, nested_pivot.plan(tree, allocs, layout=NUMA2)


@pytest.mark.parametrize('version', ['1.29', '1.40', '2.0', (1, 12)])
def test_unsupported_versions(version):
    _, plan = _plan('INSTANCE')
    with pytest.raises(exception.UnsupportedMicroversion, match=r'1\.30'):
        plan.request_body(version)


@pytest.mark.parametrize('version,typed', [
    ('1.30', False), ('1.37', False), ('1.38', True), ((1, 39), True)])
def test_consumer_type_only_from_1_38(version, typed):
    _, plan = _plan('INSTANCE')
    body = plan.request_body(version)
    record = body['allocations'][h.uuid('a')]
    assert ('consumer_type' in record) is typed


def test_untyped_consumer_at_1_38_is_named():
    _, plan = _plan(None)
    with pytest.raises(exception.MissingConsumerType, match=h.uuid('a')):
        plan.request_body('1.38')
    assert plan.request_body('1.37')['allocations']


def test_only_changed_providers_and_consumers_are_listed():
    root, plan = _plan('INSTANCE')
    body = plan.request_body('1.30')
    assert list(body['allocations']) == [h.uuid('a')]
    assert set(body['inventories']) == {root, *(p.uuid for p in plan.created)}
    assert body['inventories'][root]['resource_provider_generation'] == 5
    for p in plan.created:
        assert body['inventories'][p.uuid][
            'resource_provider_generation'] == 0
    record = body['allocations'][h.uuid('a')]
    assert record['project_id'] == h.uuid('project-a')
    assert record['consumer_generation'] == 1
    for entry in record['allocations'].values():
        assert set(entry) == {'resources'}
        assert all(n >= 1 for n in entry['resources'].values())


def test_noop_plan_has_nothing_to_send():
    tree, _ = h.flat_node(inventory={'DISK_GB': {'total': 5}})
    plan = nested_pivot.plan(tree, {}, layout=Layout())
    assert plan.is_noop
    assert plan.request_body('1.30') == {'inventories': {},
                                         'allocations': {}}


def test_missing_project_is_refused():
    tree, root = h.flat_node()
    allocs = {'c': {'allocations': {root: {'resources': {'VCPU': 1}}}}}
    plan = nested_pivot.plan(tree, allocs, layout=NUMA2)
    with pytest.raises(exception.InvalidAllocations,
                       match='project_id and user_id'):
        plan.request_body('1.30')
