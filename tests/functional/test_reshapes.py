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

"""nova's reshapes as layouts, against real Placement (in process and on
the servers): class conversion, re-parenting, sharing providers, heals."""

from __future__ import annotations

from typing import Any

import pytest

import nested_pivot
from nested_pivot import Child
from nested_pivot import exception
from nested_pivot import Layout
from nested_pivot import layouts
from nested_pivot.placement import NodeState
from nested_pivot.placement import PlacementClient
from tests.functional import harness
from tests.functional import seed
from tests.functional.test_pivot import client_for

CELLS = layouts.numa([layouts.NumaCell(vcpu=8, pcpu=4, memory_mb=8192),
                      layouts.NumaCell(vcpu=8, pcpu=4, memory_mb=8192)])


def _cpu_node(adapter: Any) -> tuple[str, str, list[str], list[str]]:
    name = seed.unique('pcpu')
    root = seed.flat_node(adapter, name, {
        'VCPU': {'total': 24}, 'MEMORY_MB': {'total': 16384}})
    pinned = seed.instances(adapter, root, 2, {'VCPU': 2, 'MEMORY_MB': 1024})
    floating = seed.instances(adapter, root, 3, {'VCPU': 1,
                                                 'MEMORY_MB': 512})
    return name, root, pinned, floating


def _held(adapter: Any, consumer: str) -> dict[str, int]:
    return seed.totals(adapter, [consumer])[consumer]


def test_pinned_instances_convert_into_numa_cells(placement):
    name, root, pinned, floating = _cpu_node(placement)
    layout = CELLS + layouts.pcpu()
    hints = layouts.merge(layouts.convert(pinned),
                          layouts.place({pinned[0]: 'NUMA1'}, 'PCPU'))
    client = client_for(placement)
    result = nested_pivot.pivot(client, name, layout, hints=hints)
    assert result.applied
    numa1 = next(p['uuid'] for p in seed.tree(placement, root)
                 if p['name'] == f'{name}_NUMA1')
    held = seed.allocations(placement, pinned[0])['allocations']
    assert held[numa1]['resources'] == {'PCPU': 2, 'MEMORY_MB': 1024}
    for consumer in pinned:
        assert _held(placement, consumer) == {'PCPU': 2, 'MEMORY_MB': 1024}
    for consumer in floating:
        assert _held(placement, consumer) == {'VCPU': 1, 'MEMORY_MB': 512}
        assert root not in seed.allocations(placement, consumer)[
            'allocations']
    again = nested_pivot.pivot(client, name, layout, hints=hints)
    assert not again.applied
    assert nested_pivot.status(client, name, layout).state is \
        NodeState.PIVOTED


def _pf_node(adapter: Any) -> tuple[str, str, list[str]]:
    name = seed.unique('sub')
    root = seed.flat_node(adapter, name, {
        'VCPU': {'total': 16}, 'SRIOV_NET_VF': {'total': 8}})
    vms = seed.instances(adapter, root, 2, {'VCPU': 1, 'SRIOV_NET_VF': 1})
    return name, root, vms


FLAT_PF = Layout([Child('NUMA0', inventory={'VCPU': 16}),
                  Child('pf0', inventory={'SRIOV_NET_VF': 8})])
PF_UNDER_CELL = Layout([Child('NUMA0', inventory={'VCPU': 16}),
                        Child('pf0', parent='NUMA0',
                              inventory={'SRIOV_NET_VF': 8})])


def test_a_pf_moves_under_a_new_cell(placement):
    """Sub-NUMA clustering: the PF goes under a cell, at 1.37."""
    name, root, vms = _pf_node(placement)
    client = client_for(placement)
    nested_pivot.pivot(client, name, FLAT_PF)
    pf0 = next(p for p in seed.tree(placement, root)
               if p['name'] == f'{name}_pf0')
    assert pf0['parent_provider_uuid'] == root
    before = {vm: seed.record(placement, vm)['allocations'] for vm in vms}
    result = nested_pivot.pivot(client, name, PF_UNDER_CELL)
    assert result.applied and list(result.plan.reparented) == [pf0['uuid']]
    numa0 = next(p['uuid'] for p in seed.tree(placement, root)
                 if p['name'] == f'{name}_NUMA0')
    moved = next(p for p in seed.tree(placement, root)
                 if p['uuid'] == pf0['uuid'])
    assert moved['parent_provider_uuid'] == numa0
    assert {vm: seed.record(placement, vm)['allocations']
            for vm in vms} == before
    assert not nested_pivot.pivot(client, name, PF_UNDER_CELL).applied


def test_below_1_37_a_new_parent_is_refused(http, fault_proxy):
    name, root, _ = _pf_node(http)
    nested_pivot.pivot(PlacementClient(http), name, FLAT_PF)
    before = seed.dump(http, root, [])
    fault_proxy.max_version = '1.36'
    client = PlacementClient(harness.http_placement(fault_proxy.url),
                             backoff=0.01)
    with pytest.raises(exception.InvalidLayout, match=r'1\.37'):
        nested_pivot.pivot(client, name, PF_UNDER_CELL)
    assert seed.dump(http, root, []) == before


def test_disk_goes_to_a_sharing_provider_and_vfs_are_healed(placement):
    name = seed.unique('ssp')
    root = seed.flat_node(placement, name, {
        'VCPU': {'total': 16}, 'DISK_GB': {'total': 100},
        'SRIOV_NET_VF': {'total': 4}})
    share_name = seed.unique('share')
    share = seed.sharing_provider(placement, share_name, 500, [root])
    vms = seed.instances(placement, root, 2, {'VCPU': 1, 'DISK_GB': 10})
    layout = (Layout([Child('NUMA0', inventory={'VCPU': 16})],
                     sharing={'DISK_GB': share_name})
              + layouts.sriov([layouts.PhysicalFunction('pf0', 'net', 4)])
              + Layout(heals={'SRIOV_NET_VF'}))
    hints = {vm: {'heal': {'SRIOV_NET_VF': 1}} for vm in vms}
    result = nested_pivot.pivot(client_for(placement), name, layout,
                                hints=hints)
    assert result.applied and len(result.plan.heals) == 2
    for vm in vms:
        held = seed.record(placement, vm)['allocations']
        assert held[share] == {'DISK_GB': 10}
        assert _held(placement, vm) == {'VCPU': 1, 'DISK_GB': 10,
                                        'SRIOV_NET_VF': 1}
    inventory = seed.call(placement, 'GET',
                          f'/resource_providers/{root}/inventories')
    assert 'DISK_GB' not in inventory['inventories']
    assert seed.call(placement, 'GET',
                     f'/resource_providers/{share}/inventories')[
        'inventories']['DISK_GB']['total'] == 500
