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

"""Several concerns on one host: each layout owns only its own children.

nova's libvirt driver has one helper per concern (vGPU, memory
encryption, PCPU) and nova's PCI translator one more; each hands the same
tree to nested_pivot with its own layout (``concern=True``, as the hook
does).  None may remove, empty or move another's children.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
import pytest

import nested_pivot
from nested_pivot import Child
from nested_pivot import exception
from nested_pivot import Layout
from nested_pivot import layouts
from nested_pivot.engine import target
from tests.unit import helpers as h

FLAT = {'VCPU': {'total': 16}, 'MEMORY_MB': {'total': 16384},
        'VGPU': {'total': 8}, 'MEM_ENCRYPTION_CONTEXT': {'total': 15}}
PGPUS = layouts.pgpu([layouts.PhysicalGPU('pci_0000_84_00_0', 4),
                      layouts.PhysicalGPU('pci_0000_85_00_0', 4)])
SEV = layouts.sev({'total': 15})


def _host() -> tuple[Any, str, dict[str, Any]]:
    tree, root = h.flat_node(inventory=copy.deepcopy(FLAT))
    allocs = h.allocations(
        h.consumer('vgpu-vm', {root: {'VCPU': 2, 'MEMORY_MB': 1024,
                                      'VGPU': 1}}),
        h.consumer('sev-vm', {root: {'VCPU': 2, 'MEMORY_MB': 1024,
                                     'MEM_ENCRYPTION_CONTEXT': 1}}))
    return tree, root, allocs


def _concern(tree: Any, allocs: Any, layout: Layout, **kwargs: Any
             ) -> nested_pivot.ReshapePlan:
    root = {rc: rec for rc, rec in tree.data('cn1').inventory.items()
            if rc not in layout.resource_classes}
    return nested_pivot.reshape(tree, allocs, layout=layout, nodename='cn1',
                                concern=True, root_inventory=root, **kwargs)


def _names(tree: Any) -> set[str]:
    return {tree.data(u).name for u in tree.get_provider_uuids()}


def test_each_concern_keeps_the_others_children():
    tree, _root, allocs = _host()
    _concern(tree, allocs, PGPUS)
    sev = _concern(tree, allocs, SEV)
    assert sev.removed == ()
    pcpu = _concern(tree, allocs, layouts.pcpu())
    assert pcpu.removed == () and pcpu.is_noop
    assert _names(tree) == {'cn1', 'cn1_pci_0000_84_00_0',
                            'cn1_pci_0000_85_00_0', 'cn1_amd_sev'}
    gpus = {h.child(tree, 'cn1_pci_0000_84_00_0'),
            h.child(tree, 'cn1_pci_0000_85_00_0')}
    assert set(h.on(allocs, h.uuid('vgpu-vm'))) & gpus
    # Each concern again, in any order: nothing to do.
    for layout in (SEV, layouts.pcpu(), PGPUS):
        assert _concern(tree, allocs, layout).is_noop


def test_whole_node_ownership_is_unchanged():
    """Without concern (the CLI), a layout owns every child nested_pivot
    created: the SEV layout alone removes the pGPUs, as it always did."""
    tree, _, _allocs = _host()
    nested_pivot.reshape(tree, {}, layout=PGPUS)
    plan = nested_pivot.plan(tree, {}, layout=SEV)
    assert len(plan.removed) == 2


def test_children_of_the_old_rule_are_adopted_by_their_concern():
    """A node pivoted by one whole-node layout keeps working when the
    driver splits it into concerns."""
    tree, _, allocs = _host()
    nested_pivot.reshape(tree, allocs, layout=PGPUS + SEV)
    before = h.snapshot(tree)
    for layout in (PGPUS, SEV, layouts.pcpu()):
        assert _concern(tree, allocs, layout).is_noop
    assert h.snapshot(tree) == before


def test_a_dropped_device_of_the_concern_is_removed_unless_kept():
    tree, _, allocs = _host()
    _concern(tree, allocs, PGPUS, hints={
        h.uuid('vgpu-vm'): {'VGPU': 'pci_0000_84_00_0'}})
    _concern(tree, allocs, SEV)
    one = layouts.pgpu([layouts.PhysicalGPU('pci_0000_84_00_0', 4)])
    kept = _concern(tree, allocs, dataclasses.replace(
        one, keep=frozenset(['pci_0000_85_00_0'])))
    assert kept.is_noop and 'cn1_pci_0000_85_00_0' in _names(tree)
    plan = _concern(tree, allocs, one)
    assert [plan.before.providers[u].name for u in plan.removed] == [
        'cn1_pci_0000_85_00_0']
    assert 'cn1_amd_sev' in _names(tree)


@pytest.mark.parametrize('concern', [False, True])
def test_a_device_allocation_never_changes_device_on_its_own(concern):
    tree, root = h.flat_node(inventory={'SRIOV_NET_VF': {'total': 8}})
    two = layouts.sriov([layouts.PhysicalFunction('pf0', 'net', 4),
                         layouts.PhysicalFunction('pf1', 'net', 4)])
    allocs = h.allocations(h.consumer('vm', {root: {'SRIOV_NET_VF': 1}}))
    nested_pivot.reshape(tree, allocs, layout=two, hints={
        h.uuid('vm'): 'pf0'})
    pf0, pf1 = h.child(tree, 'cn1_pf0'), h.child(tree, 'cn1_pf1')
    only_pf1 = layouts.sriov([layouts.PhysicalFunction('pf1', 'net', 4)])
    call = _concern if concern else (
        lambda t, a, layout, **kw: nested_pivot.reshape(
            t, a, layout=layout, **kw))
    before = (h.snapshot(tree), copy.deepcopy(allocs))
    with pytest.raises(exception.DeviceAllocationStranded,
                       match=f'{h.uuid("vm")} holds 1 SRIOV_NET_VF on '
                             f'cn1_pf0') as err:
        call(tree, allocs, only_pf1)
    assert err.value.unplaced == (h.uuid('vm'),)
    assert (h.snapshot(tree), allocs) == before
    # A hint moves it, and only then.
    call(tree, allocs, only_pf1, hints={h.uuid('vm'): 'pf1'})
    assert h.on(allocs, h.uuid('vm')) == {pf1: {'SRIOV_NET_VF': 1}}
    assert not tree.exists(pf0)


def test_another_class_the_tree_does_not_show_yet_stays_as_it_is():
    """nova's cached tree may lag Placement: a consumer holds a class the
    root offers in Placement but not yet in the tree.  A concern that does
    not manage that class plans its own and leaves that allocation as it
    is; one that manages it still finds it displaced."""
    tree, root = h.flat_node(inventory={'VCPU': {'total': 16}})
    allocs = h.allocations(h.consumer('sev-vm', {root: {
        'VCPU': 1, 'MEM_ENCRYPTION_CONTEXT': 1}}))
    before = copy.deepcopy(allocs)
    pgpus = layouts.pgpu([layouts.PhysicalGPU('pci_0000_84_00_0', 4)])
    plan = _concern(tree, allocs, pgpus)
    assert not plan.consumers
    assert allocs == before
    with pytest.raises(exception.NoTargetProvider,
                       match='MEM_ENCRYPTION_CONTEXT'):
        _concern(tree, allocs, dataclasses.replace(
            Layout(), managed_classes=frozenset(['MEM_ENCRYPTION_CONTEXT'])))


def test_a_dropped_device_with_no_sibling_gives_back_to_the_root():
    """The CLI's whole-node layout: the root regains the class of a child
    it removes when no other child carries it, and the allocation goes up
    there, along its own branch."""
    tree, root = h.flat_node(inventory={'SRIOV_NET_VF': {'total': 8}})
    allocs = h.allocations(h.consumer('vm', {root: {'SRIOV_NET_VF': 1}}))
    nested_pivot.reshape(tree, allocs, layout=layouts.sriov(
        [layouts.PhysicalFunction('pf0', 'net', 4)]))
    nested_pivot.reshape(tree, allocs, layout=Layout())
    assert h.on(allocs, h.uuid('vm')) == {root: {'SRIOV_NET_VF': 1}}


def test_a_shared_placeholder_cell_keeps_the_other_concerns_classes():
    tree, root = h.flat_node(inventory={
        'VCPU': {'total': 16}, 'SRIOV_NET_VF': {'total': 8}})
    cells = layouts.numa([layouts.NumaCell(vcpu=8), layouts.NumaCell(vcpu=8)])
    pfs = layouts.sriov([layouts.PhysicalFunction('pf0', 'net', 8,
                                                  numa_node=0)])
    allocs = h.allocations(h.consumer('vm', {root: {'VCPU': 2,
                                                    'SRIOV_NET_VF': 1}}))
    _concern(tree, allocs, cells)
    _concern(tree, allocs, pfs)
    numa0 = h.child(tree, 'cn1_NUMA0')
    assert tree.data(numa0).inventory['VCPU']['total'] == 8
    assert tree.data('cn1_pf0').parent_uuid == numa0
    assert _concern(tree, allocs, cells).is_noop
    # The SR-IOV concern rolled back: its PF goes, the cell stays.
    back = nested_pivot.reshape(
        tree, allocs, layout=pfs.flat(), concern=True, root_inventory={
            **tree.data(root).inventory, 'SRIOV_NET_VF': {'total': 8}})
    assert [back.before.providers[u].name for u in back.removed] == [
        'cn1_pf0']
    assert tree.data(numa0).inventory['VCPU']['total'] == 8
    assert h.on(allocs, h.uuid('vm'))[root] == {'SRIOV_NET_VF': 1}


def _nova_pci_provider(tree: Any, root: str) -> str:
    uuid = tree.new_child('cn1_0000:81:00.0', root, uuid=h.uuid('nova-pci'))
    tree.update_inventory(uuid, {'CUSTOM_PCI_8086_154D': {'total': 1}})
    tree.update_traits(uuid, ['COMPUTE_MANAGED_PCI_DEVICE', 'OWNER_NOVA'])
    return uuid


@pytest.mark.parametrize('concern', [False, True])
def test_another_owners_provider_is_never_adopted(concern):
    tree, root = h.flat_node(inventory={'SRIOV_NET_VF': {'total': 8}})
    _nova_pci_provider(tree, root)
    pf = layouts.sriov([layouts.PhysicalFunction('0000:81:00.0', 'net', 8)])
    before = h.snapshot(tree)
    with pytest.raises(exception.ForeignProvider,
                       match=r'cn1_0000:81:00.0 .*COMPUTE_MANAGED_PCI_'):
        nested_pivot.reshape(tree, {}, layout=pf, concern=concern)
    assert h.snapshot(tree) == before


def test_a_provider_with_classes_the_layout_does_not_manage_is_refused():
    tree, root = h.flat_node(inventory={'SRIOV_NET_VF': {'total': 8}})
    other = tree.new_child('cn1_pf0', root, uuid=h.uuid('other'))
    tree.update_inventory(other, {'CUSTOM_FPGA': {'total': 1}})
    with pytest.raises(exception.ForeignProvider, match='CUSTOM_FPGA'):
        nested_pivot.plan(tree, {}, layout=layouts.sriov(
            [layouts.PhysicalFunction('pf0', 'net', 8)]))


def test_the_pci_concern_that_claims_the_mark_adopts_novas_providers():
    """nova's PCI translator, ported: its children list
    COMPUTE_MANAGED_PCI_DEVICE themselves."""
    tree, root = h.flat_node()
    pci = _nova_pci_provider(tree, root)
    layout = Layout([Child('0000:81:00.0', inventory={
        'CUSTOM_PCI_8086_154D': {'total': 2, 'max_unit': 2}},
        traits=frozenset(['COMPUTE_MANAGED_PCI_DEVICE', 'OWNER_NOVA']))])
    plan = nested_pivot.reshape(tree, {}, layout=layout, concern=True,
                                root_inventory={})
    assert plan.created == ()
    assert tree.data(pci).inventory['CUSTOM_PCI_8086_154D']['total'] == 2


def _pci_node() -> tuple[Any, str, str, Layout]:
    tree, root = h.flat_node()
    layout = Layout([Child('dev', inventory={
        'CUSTOM_PCI_X': {'total': 2, 'max_unit': 2}})],
        heals=frozenset(['CUSTOM_PCI_X']))
    nested_pivot.reshape(tree, {}, layout=layout)
    return tree, root, h.child(tree, 'cn1_dev'), layout


def test_corrections_add_the_missing_part_and_remove_an_excess():
    tree, root, dev, layout = _pci_node()
    allocs = h.allocations(
        h.consumer('short', {root: {'VCPU': 1}, dev: {'CUSTOM_PCI_X': 1}}),
        h.consumer('long', {root: {'VCPU': 1}}))
    hints = {h.uuid('short'): {'correct': {'CUSTOM_PCI_X': {'dev': 2}}},
             h.uuid('long'): {'correct': {'CUSTOM_PCI_X': {'dev': 0}}}}
    first = nested_pivot.reshape(tree, allocs, layout=layout, hints=hints)
    assert h.on(allocs, h.uuid('short'))[dev] == {'CUSTOM_PCI_X': 2}
    assert [(x.consumer, x.amount) for x in first.heals] == [
        (h.uuid('short'), 1)]
    assert first.corrections == ()
    hints[h.uuid('short')] = {'correct': {'CUSTOM_PCI_X': {'dev': 1}}}
    second = nested_pivot.reshape(tree, allocs, layout=layout, hints=hints)
    assert h.on(allocs, h.uuid('short'))[dev] == {'CUSTOM_PCI_X': 1}
    assert [(c.consumer, c.amount, c.provider) for c in second.corrections
            ] == [(h.uuid('short'), 1, dev)]
    assert second.consumers == (h.uuid('short'),)
    assert nested_pivot.plan(tree, allocs, layout=layout,
                             hints=hints).is_noop


@pytest.mark.parametrize('hint,match', [
    ({'correct': {'VCPU': {'dev': 1}}}, 'heals no VCPU'),
    ({'correct': {'CUSTOM_PCI_X': 1}}, 'expected {class: {child'),
    ({'correct': {'CUSTOM_PCI_X': {'dev': -1}}}, 'amounts 0 or more'),
    ({'correct': {'CUSTOM_PCI_X': {'nope': 1}}}, "no provider 'nope'"),
    ({'correct': {'CUSTOM_PCI_X': {'dev': 3}}}, 'would then hold 3 of 2'),
])
def test_bad_corrections_are_refused(hint, match):
    tree, root, _, layout = _pci_node()
    allocs = h.allocations(h.consumer('vm', {root: {'VCPU': 1}}))
    before = (h.snapshot(tree), copy.deepcopy(allocs))
    with pytest.raises(exception.PivotError, match=match):
        nested_pivot.reshape(tree, allocs, layout=layout,
                             hints={h.uuid('vm'): hint})
    assert (h.snapshot(tree), allocs) == before


def test_reserved_below_usage_is_accepted_and_reported():
    """nova's one-time-use device: reserved = total while allocated."""
    tree, root, dev, _layout = _pci_node()
    allocs = h.allocations(h.consumer('vm', {root: {'VCPU': 1},
                                             dev: {'CUSTOM_PCI_X': 2}}))
    otu = Layout([Child('dev', inventory={'CUSTOM_PCI_X': {
        'total': 2, 'max_unit': 2, 'reserved': 2}})])
    plan = nested_pivot.reshape(tree, allocs, layout=otu)
    assert plan.moves == () and plan.consumers == ()
    assert [(b.name, b.resource_class, b.capacity, b.used)
            for b in plan.below_usage] == [('cn1_dev', 'CUSTOM_PCI_X', 0, 2)]
    assert tree.data(dev).inventory['CUSTOM_PCI_X']['reserved'] == 2
    assert h.on(allocs, h.uuid('vm'))[dev] == {'CUSTOM_PCI_X': 2}


def test_a_total_below_usage_is_still_refused():
    tree, _root, dev, _ = _pci_node()
    allocs = h.allocations(h.consumer('vm', {dev: {'CUSTOM_PCI_X': 2}}))
    smaller = Layout([Child('dev', inventory={'CUSTOM_PCI_X': 1})])
    with pytest.raises(exception.InventoryBelowUsage, match='use 2'):
        nested_pivot.plan(tree, allocs, layout=smaller)


def test_a_move_onto_a_reserved_device_is_refused():
    """Placement accepts a provider over its capacity only when the
    request leaves it no fuller; so does the engine."""
    tree, root = h.flat_node(inventory={'SRIOV_NET_VF': {'total': 4}})
    allocs = h.allocations(h.consumer('vm', {root: {'SRIOV_NET_VF': 1}}))
    full = layouts.sriov([layouts.PhysicalFunction(
        'pf0', 'net', {'total': 4, 'reserved': 4})])
    with pytest.raises(exception.CannotPivot):
        nested_pivot.plan(tree, allocs, layout=full)


# -- the fields a layout leaves out -----------------------------------------

NOVA_ROOT = {
    'VCPU': {'total': 16, 'max_unit': 16, 'allocation_ratio': 4.0,
             'reserved': 1},
    'MEMORY_MB': {'total': 16384, 'max_unit': 16384, 'reserved': 512,
                  'allocation_ratio': 1.5},
}


def test_fields_left_out_follow_novas_rule():
    tree, _root = h.flat_node(inventory=copy.deepcopy(NOVA_ROOT))
    layout = layouts.numa([layouts.NumaCell(vcpu=8, memory_mb=8192),
                           layouts.NumaCell(vcpu=8, memory_mb=8192)])
    nested_pivot.reshape(tree, {}, layout=layout)
    n0, n1 = (tree.data(f'cn1_NUMA{i}').inventory for i in range(2))
    assert n0['VCPU'] == {'total': 8, 'reserved': 1, 'min_unit': 1,
                          'max_unit': 8, 'step_size': 1,
                          'allocation_ratio': 4.0}
    assert n1['VCPU']['reserved'] == 0 and n1['VCPU']['max_unit'] == 8
    assert (n0['MEMORY_MB']['reserved'], n1['MEMORY_MB']['reserved']) == (
        512, 0)
    assert n0['MEMORY_MB']['allocation_ratio'] == 1.5
    assert nested_pivot.plan(tree, {}, layout=layout).is_noop


def test_fields_the_layout_gives_win_and_placements_are_kept():
    tree, _root = h.flat_node(inventory=copy.deepcopy(NOVA_ROOT))
    layout = layouts.numa([layouts.NumaCell(vcpu={'total': 8,
                                                  'max_unit': 4})])
    nested_pivot.reshape(tree, {}, layout=layout)
    numa0 = h.child(tree, 'cn1_NUMA0')
    assert tree.data(numa0).inventory['VCPU']['max_unit'] == 4
    # An operator's reserved on the child stays.
    inventory = copy.deepcopy(tree.data(numa0).inventory)
    inventory['VCPU']['reserved'] = 3
    tree.update_inventory(numa0, inventory)
    assert nested_pivot.plan(tree, {}, layout=layout).is_noop


def test_an_old_pivot_with_placements_max_unit_gets_novas():
    """Children an older nested_pivot made have max_unit 2147483647: a
    new pivot gives them their own total."""
    tree, root = h.flat_node()
    numa0 = tree.new_child('cn1_NUMA0', root,
                           uuid=target.child_uuid(root, 'NUMA0'))
    tree.update_inventory(numa0, {'VCPU': {'total': 8,
                                           'max_unit': 2147483647}})
    plan = nested_pivot.reshape(
        tree, {}, layout=layouts.numa([layouts.NumaCell(vcpu=8)]))
    assert numa0 in plan.inventories
    assert tree.data(numa0).inventory['VCPU']['max_unit'] == 8


@st.composite
def _cells(draw: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    total = draw(st.integers(2, 64))
    root = {'VCPU': {'total': total,
                     'max_unit': draw(st.integers(1, total)),
                     'reserved': draw(st.integers(0, total)),
                     'allocation_ratio': draw(st.sampled_from([1.0, 4.0]))}}
    cells = [dict(draw(st.fixed_dictionaries({'total': st.integers(1, 32)},
                                            optional={'reserved':
                                                      st.integers(0, 1)})))
             for _ in range(draw(st.integers(1, 4)))]
    return root, cells


@given(_cells())
def test_filled_fields_are_valid_and_stable(scenario):
    root_inventory, cells = scenario
    tree, _ = h.flat_node(inventory=root_inventory)
    layout = Layout(tuple(Child(f'c{i}', inventory={'VCPU': cell})
                          for i, cell in enumerate(cells)))
    try:
        nested_pivot.reshape(tree, {}, layout=layout)
    except exception.InvalidLayout:
        return  # reserved beyond a given total, say
    former = root_inventory['VCPU']
    pool = former['reserved']
    for i, cell in enumerate(cells):
        record = tree.data(f'cn1_c{i}').inventory['VCPU']
        assert record['max_unit'] == min(cell['total'], former['max_unit'])
        assert record['allocation_ratio'] == former['allocation_ratio']
        if 'reserved' not in cell:
            assert record['reserved'] == min(pool, cell['total'])
            pool -= record['reserved']
    assert nested_pivot.plan(tree, {}, layout=layout).is_noop


@pytest.mark.skipif('amd_sev_es' not in layouts.MEMORY_ENCRYPTION_TRAITS,
                    reason='this os-traits (2024.1 has 3.0) has no '
                           'HW_CPU_X86_AMD_SEV_ES')
def test_memory_encryption_gives_each_model_its_child_and_trait():
    tree, root = h.flat_node(inventory={'MEM_ENCRYPTION_CONTEXT':
                                        {'total': 15}})
    tree.update_traits(root, ['HW_CPU_X86_AMD_SEV'])
    allocs = h.allocations(h.consumer('sev-vm', {root: {
        'MEM_ENCRYPTION_CONTEXT': 1}}))
    layout = layouts.memory_encryption({'amd_sev': 1, 'amd_sev_es': 100})
    nested_pivot.reshape(tree, allocs, layout=layout)
    sev, es = h.child(tree, 'cn1_amd_sev'), h.child(tree, 'cn1_amd_sev_es')
    assert tree.data(sev).traits == {'HW_CPU_X86_AMD_SEV', 'OWNER_NOVA'}
    assert tree.data(es).traits == {'HW_CPU_X86_AMD_SEV_ES', 'OWNER_NOVA'}
    assert tree.data(root).traits == set()
    # The flat root held SEV guests: to amd_sev, though SEV-ES has room.
    assert h.on(allocs, h.uuid('sev-vm')) == {sev: {
        'MEM_ENCRYPTION_CONTEXT': 1}}


def test_an_unknown_memory_encryption_model_needs_its_trait():
    with pytest.raises(exception.InvalidLayout, match="'amd_sev_x' has no"):
        layouts.sev(4, name='amd_sev_x')
    assert layouts.sev(4, name='amd_sev_x', trait='CUSTOM_X').children[
        0].traits == {'CUSTOM_X', 'OWNER_NOVA'}


def test_destinations_name_a_child_offering_the_class():
    with pytest.raises(exception.InvalidLayout, match='no child of the'):
        Layout([Child('a', inventory={'VCPU': 1})],
               destinations={'VGPU': 'a'})


def _from_file(tmp_path: Any) -> Layout:
    from nested_pivot import layoutfile
    path = tmp_path / 'layouts.yaml'
    path.write_text('layouts:\n  - match: "cn*"\n    children:\n'
                    '      - name: NUMA0\n'
                    '        inventory: {VCPU: {total: 8, '
                    'allocation_ratio: 4.0}}\n'
                    '      - name: pf0\n'
                    '        inventory: {SRIOV_NET_VF: 8}\n')
    return layoutfile.load(path).rule_for('cn1').layout


def _from_discover(tmp_path: Any) -> Layout:
    from pathlib import Path

    from nested_pivot import discover
    from nested_pivot import layoutfile
    fixture = Path(__file__).parents[1] / 'fixtures' / 'sysfs'
    path = tmp_path / 'host.yaml'
    import yaml
    path.write_text(yaml.safe_dump(discover.discover(fixture,
                                                     hostname='cn1')))
    return layoutfile.load(path).rule_for('cn1').layout


PRODUCERS = {
    'builders': lambda _: layouts.numa([layouts.NumaCell(vcpu=8)])
    + layouts.sriov([layouts.PhysicalFunction('pf0', 'net', 8)])
    + layouts.pgpu([layouts.PhysicalGPU('pci_0000_84_00_0', 4)]),
    'layout file': _from_file,
    'discover': _from_discover,
}


@pytest.mark.parametrize('producer', sorted(PRODUCERS))
def test_every_producer_gets_novas_max_unit(producer, tmp_path):
    layout = PRODUCERS[producer](tmp_path)
    flat = {rc: {'total': 10 ** 7, 'max_unit': 10 ** 7}
            for rc in layout.resource_classes}
    tree, _ = h.flat_node(inventory=flat)
    nested_pivot.reshape(tree, {}, layout=layout)
    for child in layout.children:
        for rc, record in tree.data(f'cn1_{child.name}').inventory.items():
            assert record['max_unit'] == record['total'], (child.name, rc)


def test_the_hook_takes_the_former_records_from_the_driver():
    from oslo_config import cfg

    from nested_pivot import conf as np_conf
    from nested_pivot import nova
    conf = cfg.ConfigOpts()
    np_conf.register_opts(conf)
    conf([])
    tree, _root = h.flat_node(inventory={})
    flat = {'VCPU': {'total': 16, 'max_unit': 16, 'allocation_ratio': 4.0}}
    nova.Hook(conf).update_provider_tree(
        tree, 'cn1', layout=layouts.numa([layouts.NumaCell(vcpu=8),
                                         layouts.NumaCell(vcpu=8)]),
        root_inventory=flat)
    record = tree.data('cn1_NUMA0').inventory['VCPU']
    assert (record['max_unit'], record['allocation_ratio']) == (8, 4.0)
