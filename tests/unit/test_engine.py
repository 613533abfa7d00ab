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

"""The engine's rules, one scenario each, with nova-shaped inputs."""

from __future__ import annotations

import copy
from typing import Any

import pytest

import nested_pivot
from nested_pivot import Child
from nested_pivot import exception
from nested_pivot import Layout
from nested_pivot import layouts
from tests.unit import helpers as h

NUMA2 = layouts.numa([layouts.NumaCell(vcpu=8, memory_mb=8192),
                      layouts.NumaCell(vcpu=8, memory_mb=8192)])


def _instances(root: str, count: int, vcpu: int = 2, mem: int = 2048,
               disk: int = 10) -> dict[str, Any]:
    return h.allocations(*(
        h.consumer(f'vm{i}', {root: {'VCPU': vcpu, 'MEMORY_MB': mem,
                                     'DISK_GB': disk}})
        for i in range(count)))


def test_numa_pivot_moves_vcpu_and_memory_together():
    tree, root = h.flat_node()
    allocs = _instances(root, 6)
    before = h.totals(allocs)
    plan = nested_pivot.reshape(tree, allocs, layout=NUMA2)
    numa0, numa1 = h.child(tree, 'cn1_NUMA0'), h.child(tree, 'cn1_NUMA1')
    assert h.totals(allocs) == before
    for c in allocs:
        where = h.on(allocs, c)
        assert where[root] == {'DISK_GB': 10}
        kids = [rp for rp in where if rp != root]
        assert len(kids) == 1 and kids[0] in (numa0, numa1)
        assert where[kids[0]] == {'VCPU': 2, 'MEMORY_MB': 2048}
    assert set(tree.data(root).inventory) == {'DISK_GB'}
    assert tree.data(numa0).traits == {'HW_NUMA_ROOT'}
    assert len(plan.moves) == 12 and len(plan.consumers) == 6
    assert not plan.is_noop


def test_second_run_is_a_noop_and_changes_nothing():
    tree, root = h.flat_node()
    allocs = _instances(root, 4)
    nested_pivot.reshape(tree, allocs, layout=NUMA2)
    tree_before, allocs_before = h.snapshot(tree), copy.deepcopy(allocs)
    plan = nested_pivot.reshape(tree, allocs, layout=NUMA2)
    assert plan.is_noop and plan.moves == () and plan.consumers == ()
    assert h.snapshot(tree) == tree_before and allocs == allocs_before


def test_flat_layout_rolls_back_to_the_root():
    tree, root = h.flat_node()
    allocs = _instances(root, 5)
    original = copy.deepcopy(allocs)
    nested_pivot.reshape(tree, allocs, layout=NUMA2)
    plan = nested_pivot.reshape(tree, allocs, layout=Layout(children=[]))
    assert tree.get_provider_uuids() == [root]
    assert tree.data(root).inventory['VCPU']['total'] == 16
    assert tree.data(root).inventory['MEMORY_MB']['total'] == 16384
    assert h.on(allocs, h.uuid('vm0')) == h.on(original, h.uuid('vm0'))
    assert len(plan.removed) == 2
    body = plan.request_body('1.30')
    assert all(body['inventories'][u]['inventories'] == {}
               for u in plan.removed)


def test_root_keeps_classes_no_child_carries():
    tree, root = h.flat_node()
    nested_pivot.reshape(tree, {}, layout=NUMA2)
    assert tree.data(root).inventory['DISK_GB']['total'] == 500


def test_sriov_split_hint_and_untouched_consumers():
    inventory = {'VCPU': {'total': 32}, 'MEMORY_MB': {'total': 65536},
                 'SRIOV_NET_VF': {'total': 16}}
    tree, root = h.flat_node(inventory=inventory)
    layout = layouts.sriov([
        layouts.PhysicalFunction('pf0', 'physnet-a', 8, numa_node=0),
        layouts.PhysicalFunction('pf1', 'physnet-a', 8, numa_node=1)])
    vm_vf = h.consumer('vf', {root: {'VCPU': 2, 'SRIOV_NET_VF': 2}})
    vm_plain = h.consumer('plain', {root: {'VCPU': 2, 'MEMORY_MB': 512}})
    allocs = h.allocations(vm_vf, vm_plain)
    plain_before = copy.deepcopy(allocs[vm_plain[0]])
    plan = nested_pivot.reshape(
        tree, allocs, layout=layout,
        hints={vm_vf[0]: {'SRIOV_NET_VF': {'pf0': 1, 'cn1_pf1': 1}}})
    pf0, pf1 = h.child(tree, 'cn1_pf0'), h.child(tree, 'cn1_pf1')
    assert h.on(allocs, vm_vf[0]) == {root: {'VCPU': 2},
                                      pf0: {'SRIOV_NET_VF': 1},
                                      pf1: {'SRIOV_NET_VF': 1}}
    assert allocs[vm_plain[0]] == plain_before
    assert plan.consumers == (vm_vf[0],)
    assert tree.data(pf0).traits == {'CUSTOM_PHYSNET_PHYSNET_A'}
    assert tree.data(pf0).parent_uuid == h.child(tree, 'cn1_NUMA0')
    assert set(tree.data(root).inventory) == {'VCPU', 'MEMORY_MB'}


def test_pgpu_pivot_keeps_consumer_identity_and_type():
    tree, root = h.flat_node(inventory={'VGPU': {'total': 8},
                                        'VCPU': {'total': 8}})
    layout = layouts.pgpu([layouts.PhysicalGPU('pci_0000_84_00_0', 4),
                           layouts.PhysicalGPU('pci_0000_85_00_0', 4)])
    vms = [h.consumer(f'g{i}', {root: {'VGPU': 1, 'VCPU': 1}},
                      consumer_type='INSTANCE', generation=i)
           for i in range(8)]
    allocs = h.allocations(*vms)
    identity = {c: {k: v for k, v in r.items() if k != 'allocations'}
                for c, r in allocs.items()}
    nested_pivot.reshape(tree, allocs, layout=layout)
    assert identity == {c: {k: v for k, v in r.items() if k != 'allocations'}
                        for c, r in allocs.items()}
    per_gpu: dict[str, int] = {}
    for c in allocs:
        for rp, res in h.on(allocs, c).items():
            if 'VGPU' in res:
                per_gpu[rp] = per_gpu.get(rp, 0) + res['VGPU']
    assert sorted(per_gpu.values()) == [4, 4]


def test_sharing_and_other_host_allocations_stay_exactly():
    tree, root = h.flat_node()
    share = h.uuid('shared-disk')
    other = h.uuid('other-host')
    vm = h.consumer('evacuating', {root: {'VCPU': 2, 'MEMORY_MB': 1024},
                                   share: {'DISK_GB': 20},
                                   other: {'VCPU': 2, 'MEMORY_MB': 1024}})
    allocs = h.allocations(vm)
    plan = nested_pivot.reshape(tree, allocs, layout=NUMA2)
    where = h.on(allocs, vm[0])
    assert where[share] == {'DISK_GB': 20}
    assert where[other] == {'VCPU': 2, 'MEMORY_MB': 1024}
    body = plan.request_body('1.30')['allocations'][vm[0]]['allocations']
    assert body[share] == {'resources': {'DISK_GB': 20}}
    assert root not in body  # its resources became empty: pruned


def test_migration_consumer_moves_like_an_instance():
    tree, root = h.flat_node()
    mig = h.consumer('migration', {root: {'VCPU': 4, 'MEMORY_MB': 4096}},
                     consumer_type='MIGRATION')
    allocs = h.allocations(mig)
    plan = nested_pivot.reshape(tree, allocs, layout=NUMA2)
    assert root not in h.on(allocs, mig[0])
    body = plan.request_body('1.38')['allocations'][mig[0]]
    assert body['consumer_type'] == 'MIGRATION'


def test_capacity_respects_reserved_and_allocation_ratio():
    tree, root = h.flat_node(inventory={'VCPU': {'total': 8}})
    layout = Layout([
        Child('a', inventory={'VCPU': {'total': 4, 'reserved': 2,
                                       'allocation_ratio': 2.0}}),
        Child('b', inventory={'VCPU': {'total': 4}})])
    allocs = h.allocations(*(h.consumer(f'v{i}', {root: {'VCPU': 2}})
                             for i in range(4)))
    nested_pivot.reshape(tree, allocs, layout=layout)
    a = h.child(tree, 'cn1_a')
    on_a = sum(h.on(allocs, c).get(a, {}).get('VCPU', 0) for c in allocs)
    assert on_a == 4  # (4 - 2) * 2.0


@pytest.mark.parametrize('field,value,amount,fits', [
    ('max_unit', 2, 4, False),
    ('max_unit', 4, 4, True),
    ('min_unit', 4, 2, False),
    ('step_size', 2, 3, False),
    ('step_size', 2, 4, True),
])
def test_units_of_the_target_are_checked(field, value, amount, fits):
    tree, root = h.flat_node(inventory={'VCPU': {'total': 16}})
    layout = Layout([Child('a', inventory={'VCPU': {'total': 16,
                                                    field: value}})])
    allocs = h.allocations(h.consumer('v', {root: {'VCPU': amount}}))
    if fits:
        nested_pivot.reshape(tree, allocs, layout=layout)
        assert root not in h.on(allocs, h.uuid('v'))
    else:
        with pytest.raises(exception.CannotPivot, match='min_unit'):
            nested_pivot.reshape(tree, allocs, layout=layout)


def test_cannot_pivot_names_consumers_amounts_and_free_capacity():
    tree, root = h.flat_node()
    allocs = h.allocations(*(h.consumer(f'big{i}', {root: {
        'VCPU': 6, 'MEMORY_MB': 1024}}) for i in range(3)))
    tree_before, allocs_before = h.snapshot(tree), copy.deepcopy(allocs)
    with pytest.raises(exception.CannotPivot) as err:
        nested_pivot.reshape(tree, allocs, layout=NUMA2)
    message = str(err.value)
    assert 'cn1' in message and 'VCPU=6' in message
    assert 'cn1_NUMA0 MEMORY_MB=7168 VCPU=2' in message
    assert 'cn1_NUMA1 MEMORY_MB=7168 VCPU=2' in message
    assert err.value.unplaced and set(err.value.unplaced) <= set(allocs)
    assert err.value.code == 'nested_pivot.cannot_pivot'
    assert h.snapshot(tree) == tree_before and allocs == allocs_before


def test_exact_search_finds_what_greedy_misses():
    # Sizes 3,3,2,2,2 into two bins of 6: decreasing first/best fit puts
    # 3+3 together and fails; 3+3 | 2+2+2 is the only solution.
    tree, root = h.flat_node(inventory={'VCPU': {'total': 12}})
    layout = Layout([Child('a', inventory={'VCPU': 6}),
                     Child('b', inventory={'VCPU': 6})])
    sizes = [3, 3, 2, 2, 2]
    allocs = h.allocations(*(h.consumer(f'v{i}', {root: {'VCPU': s}})
                             for i, s in enumerate(sizes)))
    nested_pivot.reshape(tree, allocs, layout=layout)
    loads: dict[str, int] = {}
    for c in allocs:
        for rp, res in h.on(allocs, c).items():
            loads[rp] = loads.get(rp, 0) + res['VCPU']
    assert sorted(loads.values()) == [6, 6]


def test_descendants_first_then_ancestors():
    tree, root = h.flat_node(inventory={'VCPU': {'total': 8},
                                        'SRIOV_NET_VF': {'total': 4}})
    layout = Layout([
        Child('NUMA0', inventory={'VCPU': 8}),
        Child('pf0', parent='NUMA0', inventory={'SRIOV_NET_VF': 4})])
    allocs = h.allocations(h.consumer('v', {root: {'VCPU': 1,
                                                   'SRIOV_NET_VF': 1}}))
    nested_pivot.reshape(tree, allocs, layout=layout)
    pf0 = h.child(tree, 'cn1_pf0')
    numa0 = h.child(tree, 'cn1_NUMA0')
    assert h.on(allocs, h.uuid('v')) == {numa0: {'VCPU': 1},
                                         pf0: {'SRIOV_NET_VF': 1}}
    # Back to flat: both climb to the root.
    nested_pivot.reshape(tree, allocs, layout=Layout())
    assert h.on(allocs, h.uuid('v')) == {root: {'VCPU': 1,
                                                'SRIOV_NET_VF': 1}}


def test_without_layout_the_tree_is_the_target():
    tree, root = h.flat_node(inventory={'DISK_GB': {'total': 10}})
    kid = tree.new_child('cn1_gpu', root, uuid=h.uuid('gpu'))
    tree.update_inventory(kid, {'VGPU': {'total': 2}})
    allocs = h.allocations(h.consumer('v', {root: {'VGPU': 1}}))
    plan = nested_pivot.reshape(tree, allocs)
    assert h.on(allocs, h.uuid('v')) == {kid: {'VGPU': 1}}
    assert [(m.source, m.target, m.amount) for m in plan.moves] == [
        (root, kid, 1)]


def test_inventory_below_usage_is_refused():
    tree, root = h.flat_node(inventory={'VCPU': {'total': 8}})
    layout = Layout([Child('a', inventory={'VCPU': 8})])
    allocs = h.allocations(h.consumer('v', {root: {'VCPU': 6}}))
    nested_pivot.reshape(tree, allocs, layout=layout)
    smaller = Layout([Child('a', inventory={'VCPU': 4})])
    before = h.snapshot(tree)
    with pytest.raises(exception.InventoryBelowUsage,
                       match=r'cn1_a would offer 4 VCPU .* use 6'):
        nested_pivot.reshape(tree, allocs, layout=smaller)
    assert h.snapshot(tree) == before


def test_unknown_class_with_no_target_is_refused():
    tree, root = h.flat_node(inventory={'VCPU': {'total': 8}})
    allocs = h.allocations(h.consumer('v', {root: {'VGPU': 1}}))
    with pytest.raises(exception.NoTargetProvider,
                       match=r'1 VGPU on provider cn1'):
        nested_pivot.reshape(tree, allocs)


@pytest.mark.parametrize('hint,match', [
    ({'v': 'nope'}, "no provider 'nope'"),
    ({'v': {'VGPU': 'a'}}, 'holds no VGPU'),
    ({'v': {'VCPU': {'a': 1, 'b': 1}}}, 'add up to 2, but the consumer '
                                        'moves 4'),
    ({'v': {'VCPU': {'a': 0}}}, 'positive integer'),
    ({'v': 'cn1'}, 'offers none'),
    ({'v': 42}, 'expected a child or a mapping'),
])
def test_invalid_hints(hint, match):
    tree, root = h.flat_node(inventory={'VCPU': {'total': 8}})
    layout = Layout([Child('a', inventory={'VCPU': 4}),
                     Child('b', inventory={'VCPU': 4})])
    allocs = h.allocations(h.consumer('v', {root: {'VCPU': 4}}))
    hints = {h.uuid(k): v for k, v in hint.items()}
    before, allocs_before = h.snapshot(tree), copy.deepcopy(allocs)
    with pytest.raises(exception.InvalidHint, match=match):
        nested_pivot.reshape(tree, allocs, layout=layout, hints=hints)
    assert h.snapshot(tree) == before and allocs == allocs_before


def test_hint_by_uuid_and_whole_consumer():
    tree, root = h.flat_node()
    allocs = _instances(root, 2)
    first = nested_pivot.plan(tree, allocs, layout=NUMA2)
    numa1 = next(p.uuid for p in first.created if p.name == 'cn1_NUMA1')
    hints = {h.uuid('vm0'): numa1, h.uuid('vm1'): 'NUMA1'}
    nested_pivot.reshape(tree, allocs, layout=NUMA2, hints=hints)
    for c in allocs:
        assert h.on(allocs, c)[numa1] == {'VCPU': 2, 'MEMORY_MB': 2048}


def test_hint_over_capacity_is_cannot_pivot():
    tree, root = h.flat_node()
    allocs = _instances(root, 5)
    hints = dict.fromkeys(allocs, 'NUMA0')
    with pytest.raises(exception.CannotPivot, match='hint for consumer'):
        nested_pivot.reshape(tree, allocs, layout=NUMA2, hints=hints)


@pytest.mark.parametrize('resources,match', [
    ({'VCPU': -1}, 'non-negative integer'),
    ({'VCPU': 1.5}, 'non-negative integer'),
    ({'VCPU': True}, 'non-negative integer'),
    ({'vcpu': 1}, "malformed resource class 'vcpu'"),
    ({'BOGUS_CLASS': 1}, 'BOGUS_CLASS'),
])
def test_invalid_allocations(resources, match):
    tree, root = h.flat_node()
    allocs = {h.uuid('v'): {'allocations': {root: {'resources': resources}},
                            'project_id': 'p', 'user_id': 'u',
                            'consumer_generation': 1}}
    before = h.snapshot(tree)
    with pytest.raises(exception.InvalidAllocations, match=match):
        nested_pivot.reshape(tree, allocs, layout=NUMA2)
    assert h.snapshot(tree) == before


def test_malformed_record_is_refused():
    tree, _ = h.flat_node()
    with pytest.raises(exception.InvalidAllocations, match='"allocations"'):
        nested_pivot.reshape(tree, {'c': {'resources': {}}}, layout=NUMA2)


def test_custom_resource_classes_and_traits_are_allowed():
    tree, root = h.flat_node(inventory={'CUSTOM_FPGA': {'total': 2}})
    layout = Layout([Child('fpga0', inventory={'CUSTOM_FPGA': 2},
                           traits=['CUSTOM_XILINX'])])
    allocs = h.allocations(h.consumer('v', {root: {'CUSTOM_FPGA': 1}}))
    nested_pivot.reshape(tree, allocs, layout=layout)
    assert tree.data('cn1_fpga0').traits == {'CUSTOM_XILINX'}


def test_name_clash_with_a_foreign_provider():
    tree, _ = h.flat_node()
    h.flat_node('cn1_NUMA0', tree=tree)
    with pytest.raises(exception.InvalidTree, match='cn1_NUMA0 is taken'):
        nested_pivot.reshape(tree, {}, layout=NUMA2, nodename='cn1')


def test_several_roots_need_a_nodename():
    tree, _ = h.flat_node()
    h.flat_node('cn2', tree=tree)
    with pytest.raises(exception.InvalidTree, match='pass nodename'):
        nested_pivot.reshape(tree, {}, layout=NUMA2)
    plan = nested_pivot.reshape(tree, {}, layout=NUMA2, nodename='cn2')
    assert plan.node == 'cn2'


def test_sharing_root_is_not_the_node():
    tree, _ = h.flat_node()
    _, share_uuid = h.flat_node('share', tree=tree,
                                    inventory={'DISK_GB': {'total': 9}})
    tree.update_traits(share_uuid, ['MISC_SHARES_VIA_AGGREGATE'])
    assert nested_pivot.reshape(tree, {}, layout=NUMA2).node == 'cn1'


def test_reparenting_an_existing_child():
    """Placement (1.37) and our tree can move a PF under a new cell;
    nova's ProviderTree cannot, and the hook says the CLI does it."""
    tree, _ = h.flat_node()
    nested_pivot.reshape(tree, {}, layout=Layout([
        Child('NUMA0', inventory={'VCPU': 8}),
        Child('pf0', inventory={'SRIOV_NET_VF': 4})]))
    moved = Layout([Child('NUMA0', inventory={'VCPU': 8}),
                    Child('pf0', parent='NUMA0',
                          inventory={'SRIOV_NET_VF': 4})])
    if h.TREE_KIND == 'nova':
        with pytest.raises(exception.InvalidLayout, match='cannot move it'):
            nested_pivot.reshape(tree, {}, layout=moved)
        return
    pf0 = h.child(tree, 'cn1_pf0')
    plan = nested_pivot.reshape(tree, {}, layout=moved)
    assert plan.reparented == {pf0: h.child(tree, 'cn1_NUMA0')}
    assert tree.data(pf0).parent_uuid == h.child(tree, 'cn1_NUMA0')
    assert nested_pivot.reshape(tree, {}, layout=moved).is_noop


def test_empty_children_from_an_earlier_attempt_are_reused():
    tree, root = h.flat_node()
    first = nested_pivot.plan(tree, {}, layout=NUMA2)
    for p in first.created:  # what a crashed attempt leaves behind
        tree.new_child(p.name, p.parent, uuid=p.uuid)
    allocs = _instances(root, 2)
    plan = nested_pivot.reshape(tree, allocs, layout=NUMA2)
    assert plan.created == ()
    assert len(tree.get_provider_uuids()) == 3


def test_rebalanced_layout_moves_between_children():
    tree, _ = h.flat_node(inventory={'VCPU': {'total': 8}})
    nested_pivot.reshape(tree, {}, layout=Layout([
        Child('old', inventory={'VCPU': 8})]))
    old = h.child(tree, 'cn1_old')
    allocs = h.allocations(h.consumer('v', {old: {'VCPU': 3}}))
    nested_pivot.reshape(tree, allocs, layout=Layout([
        Child('new', inventory={'VCPU': 8})]))
    assert h.on(allocs, h.uuid('v')) == {h.child(tree, 'cn1_new'):
                                         {'VCPU': 3}}
    assert not tree.exists('cn1_old')


def test_plan_changes_nothing():
    tree, root = h.flat_node()
    allocs = _instances(root, 3)
    before, allocs_before = h.snapshot(tree), copy.deepcopy(allocs)
    plan = nested_pivot.plan(tree, allocs, layout=NUMA2)
    assert len(plan.moves) == 6
    assert h.snapshot(tree) == before and allocs == allocs_before


def test_deterministic_for_the_same_input():
    plans = []
    for _ in range(2):
        tree, root = h.flat_node()
        plans.append(nested_pivot.reshape(tree, _instances(root, 7),
                                          layout=NUMA2).moves)
    assert plans[0] == plans[1]


def test_root_inventory_sets_the_flat_records():
    tree, root = h.flat_node()
    allocs = _instances(root, 2)
    nested_pivot.reshape(tree, allocs, layout=NUMA2)
    flat = {'VCPU': {'total': 16, 'reserved': 1, 'max_unit': 8},
            'MEMORY_MB': 16384}
    nested_pivot.reshape(tree, allocs, layout=Layout(), root_inventory=flat)
    inventory = tree.data(root).inventory
    assert inventory['VCPU']['reserved'] == 1
    assert inventory['VCPU']['max_unit'] == 8
    assert inventory['DISK_GB']['total'] == 500  # not named: kept


@pytest.mark.parametrize('records,error,match', [
    ({'VCPU': 8}, exception.InvalidLayout, 'VCPU, which the children'),
    ({'vcpu': 8}, exception.InvalidLayout, "malformed resource class vcpu"),
    ({'DISK_GB': {'total': 0}}, exception.InvalidLayout, 'total must be'),
])
def test_bad_root_inventory(records, error, match):
    tree, _ = h.flat_node()
    before = h.snapshot(tree)
    with pytest.raises(error, match=match):
        nested_pivot.reshape(tree, {}, layout=NUMA2, root_inventory=records)
    assert h.snapshot(tree) == before


def test_root_inventory_needs_a_layout():
    tree, _ = h.flat_node()
    with pytest.raises(TypeError, match='needs a layout'):
        nested_pivot.plan(tree, {}, root_inventory={'DISK_GB': 5})


def test_root_inventory_below_usage_is_refused():
    tree, root = h.flat_node()
    allocs = _instances(root, 4)
    nested_pivot.reshape(tree, allocs, layout=NUMA2)
    before, allocs_before = h.snapshot(tree), copy.deepcopy(allocs)
    with pytest.raises(exception.CannotPivot, match='cn1 MEMORY_MB=12288 '
                                                    'VCPU=0'):
        nested_pivot.reshape(tree, allocs, layout=Layout(),
                             root_inventory={'VCPU': 4, 'MEMORY_MB': 16384})
    assert h.snapshot(tree) == before and allocs == allocs_before


SRIOV_UNDER_NUMA = layouts.numa([
    layouts.NumaCell(vcpu=8, memory_mb=8192),
    layouts.NumaCell(vcpu=8, memory_mb=8192)]) + layouts.sriov([
        layouts.PhysicalFunction('pf0', 'net', 4, numa_node=0),
        layouts.PhysicalFunction('pf1', 'net', 4, numa_node=1)])


def _vf_instances(root, count, vcpus=None):
    return h.allocations(*(h.consumer(f'vf{i}', {root: {
        'VCPU': (vcpus or [2] * count)[i], 'MEMORY_MB': 1024,
        'SRIOV_NET_VF': 1}}) for i in range(count)))


def test_vfs_follow_their_instances_numa_cell():
    # One big instance on one cell, three small ones on the other: VFs
    # spread evenly over the PFs would cross cells.
    tree, root = h.flat_node(inventory={
        'VCPU': {'total': 16}, 'MEMORY_MB': {'total': 16384},
        'SRIOV_NET_VF': {'total': 8}})
    allocs = _vf_instances(root, 4, vcpus=[6, 1, 1, 1])
    nested_pivot.reshape(tree, allocs, layout=SRIOV_UNDER_NUMA)
    cell_of_pf = {h.child(tree, 'cn1_pf0'): h.child(tree, 'cn1_NUMA0'),
                  h.child(tree, 'cn1_pf1'): h.child(tree, 'cn1_NUMA1')}
    for c in allocs:
        where = h.on(allocs, c)
        pf = next(rp for rp, res in where.items() if 'SRIOV_NET_VF' in res)
        assert 'VCPU' in where.get(cell_of_pf[pf], {}), where


def test_vf_follows_a_hinted_cell():
    tree, root = h.flat_node(inventory={
        'VCPU': {'total': 16}, 'MEMORY_MB': {'total': 16384},
        'SRIOV_NET_VF': {'total': 8}})
    allocs = _vf_instances(root, 1)
    (c,) = allocs
    nested_pivot.reshape(tree, allocs, layout=SRIOV_UNDER_NUMA,
                         hints={c: {'VCPU': 'NUMA1', 'MEMORY_MB': 'NUMA1'}})
    assert h.child(tree, 'cn1_pf1') in h.on(allocs, c)


def test_affinity_never_costs_a_pivot():
    # pf0 has room for one VF only: the second instance on NUMA0 takes a
    # VF of pf1 rather than failing.
    tree, root = h.flat_node(inventory={
        'VCPU': {'total': 16}, 'MEMORY_MB': {'total': 16384},
        'SRIOV_NET_VF': {'total': 5}})
    layout = layouts.numa([
        layouts.NumaCell(vcpu=16, memory_mb=16384),
        layouts.NumaCell(vcpu=1, memory_mb=1)]) + layouts.sriov([
            layouts.PhysicalFunction('pf0', 'net', 1, numa_node=0),
            layouts.PhysicalFunction('pf1', 'net', 4, numa_node=1)])
    allocs = _vf_instances(root, 3)
    nested_pivot.reshape(tree, allocs, layout=layout)
    assert h.totals(allocs) == {c: {'VCPU': 2, 'MEMORY_MB': 1024,
                                    'SRIOV_NET_VF': 1} for c in allocs}
