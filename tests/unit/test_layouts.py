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
