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

"""The ready-made NUMA, SR-IOV and pGPU layouts."""

from __future__ import annotations

import os_traits
import pytest

from nested_pivot import exception
from nested_pivot import layouts
from nested_pivot.layout import FIELDS
from nested_pivot.layout import Inventory


def test_numa_cells():
    layout = layouts.numa([
        layouts.NumaCell(vcpu={'total': 16, 'allocation_ratio': 4.0},
                         memory_mb=65536),
        {'pcpu': 8, 'memory_mb': 32768, 'id': 3}])
    n0, n3 = layout.children
    assert (n0.name, n3.name) == ('NUMA0', 'NUMA3')
    assert n0.inventory['VCPU'].allocation_ratio == 4.0
    assert set(n3.inventory) == {'PCPU', 'MEMORY_MB'}
    assert n0.traits == {os_traits.HW_NUMA_ROOT}


def test_sriov_under_numa_composes_with_numa():
    pfs = layouts.sriov([
        layouts.PhysicalFunction('ens1f0', 'physnet1', 8, numa_node=0),
        {'name': 'ens1f1', 'physnet': 'Phys-Net.2', 'vfs': 4}])
    standalone = {c.name: c for c in pfs.children}
    assert standalone['ens1f0'].parent == 'NUMA0'
    assert standalone['NUMA0'].inventory == {}
    assert standalone['ens1f1'].traits == {'CUSTOM_PHYSNET_PHYS_NET_2'}
    layout = layouts.numa([layouts.NumaCell(vcpu=8)]) + pfs
    merged = {c.name: c for c in layout.children}
    assert set(merged['NUMA0'].inventory) == {'VCPU'}
    assert merged['ens1f0'].inventory['SRIOV_NET_VF'].total == 8
    assert merged['ens1f0'].traits == {'CUSTOM_PHYSNET_PHYSNET1'}


def test_pgpu():
    layout = layouts.pgpu([layouts.PhysicalGPU(
        'pci_0000_84_00_0', {'total': 4, 'max_unit': 4},
        traits=('CUSTOM_NVIDIA_11',))])
    (gpu,) = layout.children
    assert gpu.inventory['VGPU'].max_unit == 4
    assert gpu.traits == {'CUSTOM_NVIDIA_11'}


@pytest.mark.parametrize('call,match', [
    (lambda: layouts.numa([{'cpus': 4}]), "unexpected keyword"),
    (lambda: layouts.sriov(['ens1f0']), 'expected a PhysicalFunction'),
    (lambda: layouts.pgpu([{'name': 'g', 'vgpus': 0}]), 'total must be'),
])
def test_bad_specs_are_invalid_layouts(call, match):
    with pytest.raises(exception.InvalidLayout, match=match):
        call()


def test_numa_trait_comes_from_os_traits():
    """Fails if os-traits renames HW_NUMA_ROOT: the NUMA layout and
    placement's same_subtree queries rely on that exact name."""
    assert os_traits.HW_NUMA_ROOT == 'HW_NUMA_ROOT'


CELLS = [layouts.NumaCell(vcpu=4), layouts.NumaCell(memory_mb=1024),
         layouts.NumaCell(memory_mb={'total': 4096, 'allocation_ratio': 1.5})]


def test_reserve_goes_on_the_first_record_that_holds_it():
    """Fails when a host's reserved amount lands on a cell too small for
    it, or on more than one: nova reserves it once, on its flat root."""
    reserved = layouts.reserve(CELLS, 'memory_mb', 2048)
    assert reserved == [CELLS[0], CELLS[1], layouts.NumaCell(memory_mb={
        'total': 4096, 'allocation_ratio': 1.5, 'reserved': 2048})]
    assert layouts.reserve(CELLS, 'memory_mb', 512)[1] == layouts.NumaCell(
        memory_mb={'total': 1024, 'reserved': 512})


@pytest.mark.parametrize('amount,field', [(0, 'memory_mb'), (8, 'pcpu')])
def test_nothing_to_reserve_or_nowhere_leaves_the_specs(amount, field):
    """Fails when reserving nothing, or a class no cell has (the root
    keeps it, and nova reserves it there), changes a cell."""
    assert layouts.reserve(CELLS, field, amount) == CELLS


def test_reserve_that_fits_no_record_alone():
    """Fails when an amount no cell holds is silently split or dropped:
    the caller is told (None), or with strict the first cell refuses it
    when built, naming the numbers."""
    assert layouts.reserve(CELLS, 'memory_mb', 4097) is None
    strict = layouts.reserve(CELLS, 'memory_mb', 4097, strict=True)
    with pytest.raises(exception.InvalidLayout,
                       match='child NUMA1: MEMORY_MB: reserved 4097 exceeds '
                             'total 1024'):
        layouts.numa(strict)


def test_reserve_keeps_what_the_record_left_out():
    """Fails when reserving gives the fields a record left to the
    default rule (an Inventory gives them all)."""
    cells = [layouts.NumaCell(vcpu=8), layouts.NumaCell(vcpu=Inventory(8))]
    first, _ = layouts.numa(layouts.reserve(cells, 'vcpu', 2)).children
    assert first.inventory['VCPU'].reserved == 2
    assert [f for f in FIELDS if first.given('VCPU', f)] == [
        'total', 'reserved']
    only_second = layouts.reserve([cells[1]], 'vcpu', 2)
    (child,) = layouts.numa(only_second).children
    assert child.inventory['VCPU'] == Inventory(8, reserved=2)
    assert all(child.given('VCPU', f) for f in FIELDS)


def test_children_builders_keep_the_order_given():
    """Fails when the builders of a producer's children reorder them or
    add the cells' placeholders: ``discover`` lists its children in the
    order its docstring gives."""
    pfs = [layouts.PhysicalFunction('ens2', None, 2, numa_node=1,
                                    address='0000:af:00.0'),
           layouts.PhysicalFunction('ens1', 'a', 4, address='0000:18:00.0')]
    assert [(c.name, c.parent, c.former, c.traits)
            for c in layouts.sriov_children(pfs)] == [
        ('pci_0000_af_00_0', 'NUMA1', {'ens2'}, frozenset()),
        ('pci_0000_18_00_0', None, {'ens1'}, {'CUSTOM_PHYSNET_A'})]
    gpus = layouts.pgpu_children([
        {'name': 'pci_0000_84_00_0', 'vgpus': 4, 'address': '0000:84:00.0'}])
    assert [(c.name, c.former) for c in gpus] == [
        ('pci_0000_84_00_0', frozenset())]
    assert [c.name for c in layouts.numa_children(
        [{'vcpu': 1, 'id': 3}, {'vcpu': 1, 'id': 1}])] == ['NUMA3', 'NUMA1']


def test_sriov_manages_physnets_only_when_it_knows_them_all():
    """Fails when a layout with a PF of unknown physnet manages the
    physnet traits: it would strip the one an operator put there."""
    known = layouts.sriov([layouts.PhysicalFunction('a', 'net', 1)])
    unknown = layouts.sriov([layouts.PhysicalFunction('a', 'net', 1),
                             layouts.PhysicalFunction('b', None, 1)])
    assert known.managed_traits == {'CUSTOM_PHYSNET_*'}
    assert unknown.managed_traits == frozenset()
    assert {c.name: c.traits for c in unknown.children} == {
        'a': {'CUSTOM_PHYSNET_NET'}, 'b': frozenset()}
