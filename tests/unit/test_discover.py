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

"""Layout discovery from sysfs, against the fake tree in tests/fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nested_pivot import discover
from nested_pivot import exception
from nested_pivot.layout import Child
from nested_pivot.layout import Layout

FIXTURE = Path(__file__).parents[1] / 'fixtures' / 'sysfs'
HOST = 'compute-1'

NODE = 'devices/system/node/node{}/'
PF = 'class/net/{}/device/'
MDEV = 'class/mdev_bus/{}/mdev_supported_types/{}/available_instances'
PCI = 'bus/pci/devices/{}/'
ADDRESSES = {'eth0': '0000:02:00.0'}
"""Where class/net/<iface>/device links to in the trees made here, as it
does in a real sysfs."""
ETH0 = 'pci_0000_02_00_0'
ENS1F0 = 'pci_0000_18_00_0'  # the fixture's PFs, by PCI address
ENS1F1 = 'pci_0000_af_00_0'


def _tree(root: Path, files: dict[str, str]) -> Path:
    """A sysfs tree under ``root`` holding ``files`` (path -> text); an
    interface's ``device`` is a link to its PCI device's directory."""
    root.mkdir(exist_ok=True)
    for name, text in files.items():
        parts = name.split('/')
        if parts[:2] == ['class', 'net'] and parts[3:4] == ['device']:
            address = ADDRESSES[parts[2]]
            link = root / 'class' / 'net' / parts[2] / 'device'
            if not link.is_symlink():
                link.parent.mkdir(parents=True, exist_ok=True)
                (root / PCI.format(address)).mkdir(parents=True,
                                                   exist_ok=True)
                link.symlink_to(f'../../../bus/pci/devices/{address}')
            name = PCI.format(address) + '/'.join(parts[4:])
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _node(n: int, cpus: str, kb: int) -> dict[str, str]:
    return {NODE.format(n) + 'cpulist': cpus + '\n',
            NODE.format(n) + 'meminfo':
                f'Node {n} MemTotal: {kb:>14} kB\nNode {n} MemFree: 1 kB\n'}


def _children(doc: dict) -> list[dict]:
    [rule] = doc['layouts']
    return rule['children']


def _by_name(doc: dict) -> dict[str, dict]:
    return {c['name']: c for c in _children(doc)}


def _layout(doc: dict) -> Layout:
    """The round trip of the brief: the document into a Layout."""
    return Layout(tuple(
        Child(name=c['name'], parent=c.get('parent'),
              inventory=c['inventory'], traits=c.get('traits', ()))
        for c in _children(doc)))


def test_fixture_document():
    doc = discover.discover(FIXTURE, hostname=HOST,
                            physnets={'ens1f0': 'physnet-a'},
                            cpu_allocation_ratio=2.0,
                            ram_allocation_ratio=1.5,
                            reserved_host_memory_mb=512,
                            gpus_under_numa=True)
    assert doc == {'layouts': [{'match': HOST, 'children': [
        {'name': 'NUMA0',
         'inventory': {
             'VCPU': {'total': 16, 'allocation_ratio': 2.0},
             'MEMORY_MB': {'total': 65536, 'reserved': 512,
                           'allocation_ratio': 1.5}},
         'traits': ['HW_NUMA_ROOT']},
        {'name': 'NUMA1',
         'inventory': {
             'VCPU': {'total': 16, 'allocation_ratio': 2.0},
             'MEMORY_MB': {'total': 64512, 'allocation_ratio': 1.5}},
         'traits': ['HW_NUMA_ROOT']},
        {'name': ENS1F0, 'parent': 'NUMA0',
         'inventory': {'SRIOV_NET_VF': {'total': 8}},
         'traits': ['CUSTOM_PHYSNET_PHYSNET_A'], 'former_names': ['ens1f0']},
        {'name': ENS1F1, 'parent': 'NUMA1',
         'inventory': {'SRIOV_NET_VF': {'total': 8}},
         'former_names': ['ens1f1']},
        {'name': 'pci_0000_84_00_0', 'parent': 'NUMA1',
         'inventory': {'VGPU': {'total': 4}}},
    ]}]}


def test_gpus_go_under_the_root_by_default_as_nova_puts_them():
    """Fails if the default drifts from nova's libvirt shape: pGPU
    providers are children of the compute node, not of a NUMA cell."""
    doc = discover.discover(FIXTURE, hostname=HOST)
    assert 'parent' not in _by_name(doc)['pci_0000_84_00_0']
    assert _by_name(doc)[ENS1F1]['parent'] == 'NUMA1'


def test_defaults():
    """Fails if the defaults drift from nova's (4.0 CPU, 1.0 RAM, none
    reserved)."""
    numa0 = _by_name(discover.discover(FIXTURE, hostname=HOST))['NUMA0']
    assert numa0['inventory'] == {
        'VCPU': {'total': 16, 'allocation_ratio': 4.0},
        'MEMORY_MB': {'total': 65536, 'allocation_ratio': 1.0}}


@pytest.mark.parametrize('text,cpus', [
    ('0-3,8-11', (0, 1, 2, 3, 8, 9, 10, 11)),
    ('0', (0,)),
    ('0-0', (0,)),
    ('5,3,1', (1, 3, 5)),
    ('0-3,2-5', (0, 1, 2, 3, 4, 5)),
    ('  0-1 , 7\n', (0, 1, 7)),
    ('', ()),
    ('\n', ()),
])
def test_parse_cpulist(text, cpus):
    assert discover.parse_cpulist(text) == cpus


@pytest.mark.parametrize('text', [
    'a', '3-1', '0-', '-1', '1,,2', '0-7:2', '0,', '1 2'])
def test_parse_cpulist_rejects(text):
    with pytest.raises(ValueError, match='CPU range'):
        discover.parse_cpulist(text)


@pytest.mark.parametrize('physnets,traits', [
    (None, {ENS1F0: None, ENS1F1: None}),
    ({'ens1f0': 'physnet-a'},
     {ENS1F0: ['CUSTOM_PHYSNET_PHYSNET_A'], ENS1F1: None}),
    ({'ens1f0': 'a', 'ens1f1': 'sriov.2'},
     {ENS1F0: ['CUSTOM_PHYSNET_A'], ENS1F1: ['CUSTOM_PHYSNET_SRIOV_2']}),
])
def test_physnet_traits(physnets, traits):
    doc = discover.discover(FIXTURE, hostname=HOST, physnets=physnets)
    children = _by_name(doc)
    assert {n: children[n].get('traits') for n in traits} == traits
    _layout(doc)


@pytest.mark.parametrize('iface', ['eno1', 'lo', 'ens9'])
def test_physnet_for_a_non_pf_is_an_error(iface):
    """Fails if a mistyped interface silently yields a PF without its
    physnet trait."""
    with pytest.raises(discover.DiscoveryError, match=iface):
        discover.discover(FIXTURE, hostname=HOST, physnets={iface: 'a'})


def test_no_numa_host(tmp_path):
    root = _tree(tmp_path / 'sys', {
        PF.format('eth0') + 'sriov_totalvfs': '4\n',
        PF.format('eth0') + 'numa_node': '0\n',
        MDEV.format('0000:01:00.0', 'i915-GVTg_V5_4'): '2\n',
        PCI.format('0000:01:00.0') + 'numa_node': '-1\n'})
    doc = discover.discover(root, hostname='h')
    assert _children(doc) == [
        {'name': ETH0, 'inventory': {'SRIOV_NET_VF': {'total': 4}},
         'former_names': ['eth0']},
        {'name': 'pci_0000_01_00_0', 'inventory': {'VGPU': {'total': 2}}}]
    assert [c.parent for c in _layout(doc).children] == [None, None]


def test_empty_sysfs_is_the_flat_layout(tmp_path):
    doc = discover.discover(_tree(tmp_path / 'sys', {}), hostname='h',
                            reserved_host_memory_mb=512)
    assert doc == {'layouts': [{'match': 'h', 'children': []}]}
    assert _layout(doc).is_flat


@pytest.mark.parametrize('files,pf', [
    ({}, False),
    ({'sriov_totalvfs': '0\n'}, False),
    ({'sriov_totalvfs': '0\n', 'numa_node': '0\n'}, False),
    ({'sriov_totalvfs': '8\n'}, True),
])
def test_sriov_totalvfs(tmp_path, files, pf):
    root = _tree(tmp_path / 'sys', {
        'class/net/lo/mtu': '65536\n',
        **{PF.format('eth0') + k: v for k, v in files.items()}})
    doc = discover.discover(root, hostname='h')
    assert [c['name'] for c in _children(doc)] == ([ETH0] if pf else [])


def test_fixture_skips_eno1_and_non_gpu():
    names = [c['name'] for c in _children(
        discover.discover(FIXTURE, hostname=HOST))]
    assert names == ['NUMA0', 'NUMA1', ENS1F0, ENS1F1,
                     'pci_0000_84_00_0']


@pytest.mark.parametrize('numa_node,parent', [
    ('0\n', 'NUMA0'), ('1\n', None), ('-1\n', None), (None, None)])
def test_device_parent_only_when_cell_exists(tmp_path, numa_node, parent):
    files = {**_node(0, '0-3', 4096 * 1024),
             PF.format('eth0') + 'sriov_totalvfs': '2\n'}
    if numa_node is not None:
        files[PF.format('eth0') + 'numa_node'] = numa_node
    doc = discover.discover(_tree(tmp_path / 'sys', files), hostname='h')
    assert _by_name(doc)[ETH0].get('parent') == parent
    _layout(doc)


@pytest.mark.parametrize('pci_class,types,vgpus', [
    ('0x030000\n', {'a': '4', 'b': '2'}, 4),
    ('0x030200\n', {'a': '1', 'b': '6'}, 6),
    (None, {'a': '3'}, 3),
    ('0x020000\n', {'a': '4'}, None),
    ('0x120000\n', {'a': '4'}, None),
    ('0x030000\n', {'a': '0', 'b': '0'}, None),
])
def test_gpus(tmp_path, pci_class, types, vgpus):
    address = '0000:84:00.0'
    files = {MDEV.format(address, t): n for t, n in types.items()}
    if pci_class is not None:
        files[PCI.format(address) + 'class'] = pci_class
    doc = discover.discover(_tree(tmp_path / 'sys', files), hostname='h')
    expected = ([] if vgpus is None else [
        {'name': 'pci_0000_84_00_0', 'inventory': {'VGPU': {'total': vgpus}}}])
    assert _children(doc) == expected


@pytest.mark.parametrize('address,name', [
    ('0000:84:00.0', 'pci_0000_84_00_0'),
    ('0000:3b:1f.7', 'pci_0000_3b_1f_7')])
def test_pgpu_name(address, name):
    assert discover.pgpu_name(address) == name


@pytest.mark.parametrize('cpus,kb,inventory', [
    ('0-1', 2048, {'VCPU': 2, 'MEMORY_MB': 2}),
    ('', 2048, {'MEMORY_MB': 2}),
    ('0-1', 1023, {'VCPU': 2}),
    ('', 1023, None),
])
def test_cells_with_cpus_or_memory(tmp_path, cpus, kb, inventory):
    root = _tree(tmp_path / 'sys', {**_node(0, '8', 1024 * 1024),
                                    **_node(1, cpus, kb)})
    got = {c['name']: {rc: r['total'] for rc, r in c['inventory'].items()}
           for c in _children(discover.discover(root, hostname='h'))}
    assert got.get('NUMA1') == inventory
    assert got['NUMA0'] == {'VCPU': 1, 'MEMORY_MB': 1024}


def test_cells_in_numeric_order(tmp_path):
    files = {'devices/system/node/possible': '0-10\n'}
    for n in (10, 2, 1):
        files.update(_node(n, str(n), 1024 * 1024))
    doc = discover.discover(_tree(tmp_path / 'sys', files), hostname='h')
    assert [c['name'] for c in _children(doc)] == ['NUMA1', 'NUMA2',
                                                   'NUMA10']


def test_reserved_memory_on_first_cell_with_memory(tmp_path):
    root = _tree(tmp_path / 'sys', {**_node(0, '0-1', 0),
                                    **_node(1, '2-3', 4096 * 1024)})
    doc = discover.discover(root, hostname='h', reserved_host_memory_mb=512)
    assert [c['inventory'].get('MEMORY_MB') for c in _children(doc)] == [
        None, {'total': 4096, 'reserved': 512, 'allocation_ratio': 1.0}]


def test_reserved_beyond_the_cell_is_invalid():
    with pytest.raises(exception.InvalidLayout, match='reserved'):
        discover.discover(FIXTURE, hostname=HOST,
                          reserved_host_memory_mb=65537)


def test_reserved_memory_goes_on_the_first_cell_that_holds_it(tmp_path):
    """Fails when discover and --from-nova reserve the host's memory by
    two rules: both put it on the first cell that holds it
    (nested_pivot.layouts.reserve)."""
    root = _tree(tmp_path / 'sys', {**_node(0, '0-1', 1024 * 1024),
                                    **_node(1, '2-3', 4096 * 1024)})
    doc = discover.discover(root, hostname='h', reserved_host_memory_mb=2048)
    assert [c['inventory']['MEMORY_MB'].get('reserved')
            for c in _children(doc)] == [None, 2048]


def test_reserved_beyond_every_cell_names_the_first():
    """Fails when the refusal of more reserved memory than any cell has
    stops naming the cell and both numbers."""
    with pytest.raises(exception.InvalidLayout) as caught:
        discover.discover(FIXTURE, hostname=HOST,
                          reserved_host_memory_mb=65537)
    assert str(caught.value) == ('Invalid layout: child NUMA0: MEMORY_MB: '
                                 'reserved 65537 exceeds total 65536')


@pytest.mark.parametrize('files,path,problem', [
    ({NODE.format(0) + 'cpulist': '0\n'}, NODE.format(0) + 'meminfo',
     'missing'),
    ({NODE.format(0) + 'meminfo': 'Node 0 MemTotal: 1024 kB\n'},
     NODE.format(0) + 'cpulist', 'missing'),
    ({**_node(0, '0-x', 1024)}, NODE.format(0) + 'cpulist', 'malformed'),
    ({NODE.format(0) + 'cpulist': '0\n',
      NODE.format(0) + 'meminfo': 'Node 1 MemTotal: 1024 kB\n'},
     NODE.format(0) + 'meminfo', 'malformed'),
    ({PF.format('eth0') + 'sriov_totalvfs': 'eight\n'},
     PF.format('eth0') + 'sriov_totalvfs', 'malformed'),
    ({PF.format('eth0') + 'sriov_totalvfs': '8\n',
      PF.format('eth0') + 'numa_node': '\n'},
     PF.format('eth0') + 'numa_node', 'malformed'),
    ({PCI.format('0000:84:00.0') + 'class': '0x030000\n',
      'class/mdev_bus/0000:84:00.0/x': ''},
     'class/mdev_bus/0000:84:00.0/mdev_supported_types', 'missing'),
    ({'class/mdev_bus/0000:84:00.0/mdev_supported_types/a/name': 'A\n'},
     MDEV.format('0000:84:00.0', 'a'), 'missing'),
])
def test_discovery_errors_name_path_and_problem(tmp_path, files, path,
                                                problem):
    root = _tree(tmp_path / 'sys', files)
    with pytest.raises(discover.DiscoveryError) as caught:
        discover.discover(root, hostname='h')
    assert isinstance(caught.value, exception.PivotError)
    assert caught.value.kwargs == {'path': str(root / path),
                                   'problem': caught.value.kwargs['problem']}
    assert caught.value.kwargs['problem'].startswith(problem)
    assert str(root / path) in str(caught.value)


def test_missing_sysfs_is_an_error(tmp_path):
    with pytest.raises(discover.DiscoveryError, match='no such directory'):
        discover.discover(tmp_path / 'nope', hostname='h')


def test_unreadable_file_is_an_error(tmp_path, monkeypatch):
    root = _tree(tmp_path / 'sys', _node(0, '0', 1024))
    real = Path.read_text

    def read_text(self, *args, **kwargs):
        if self.name == 'cpulist':
            raise PermissionError(13, 'Permission denied')
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, 'read_text', read_text)
    with pytest.raises(discover.DiscoveryError,
                       match=r'cpulist: unreadable: .*Permission denied'):
        discover.discover(root, hostname='h')


@pytest.mark.parametrize('physnets', [None, {'ens1f1': 'b'}])
def test_round_trip_into_layout(physnets):
    doc = discover.discover(FIXTURE, hostname=HOST, physnets=physnets,
                            gpus_under_numa=True)
    layout = _layout(doc)
    assert {c.name: c.parent for c in layout.children} == {
        'NUMA0': None, 'NUMA1': None, ENS1F0: 'NUMA0', ENS1F1: 'NUMA1',
        'pci_0000_84_00_0': 'NUMA1'}
    assert layout.flat_inventory()['VCPU'].total == 32
    assert layout.flat_inventory()['SRIOV_NET_VF'].total == 16


@pytest.mark.parametrize('physnets,bare', [
    (None, f'# No physnet trait on: {ENS1F0} (ens1f0), {ENS1F1} (ens1f1).'),
    ({'ens1f0': 'a'}, f'# No physnet trait on: {ENS1F1} (ens1f1).'),
    ({'ens1f0': 'a', 'ens1f1': 'b'}, None),
])
def test_render_parses_back(physnets, bare):
    doc = discover.discover(FIXTURE, hostname=HOST, physnets=physnets)
    text = discover.render(doc)
    assert yaml.safe_load(text) == doc
    header = [line for line in text.splitlines() if line.startswith('#')]
    assert text.startswith('\n'.join(header) + '\nlayouts:\n')
    assert HOST in header[0] and 'sysfs' in header[0]
    assert 'Review' in header[1] and 'allocation ratios' in header[1]
    assert 'physnet' in header[1]
    assert (header[3] if len(header) > 3 else None) == bare


def test_render_keeps_key_order():
    """Fails if keys are sorted: name must lead each child."""
    text = discover.render(discover.discover(FIXTURE, hostname=HOST))
    assert '  - name: NUMA0\n    inventory:\n' in text
    assert text.index('total: 16') < text.index('allocation_ratio: 4.0')
