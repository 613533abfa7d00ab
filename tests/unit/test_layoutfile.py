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

"""Layout files: the contract shape, globs, and errors that say where."""

from __future__ import annotations

import json
import os

import pytest

from nested_pivot import exception
from nested_pivot import layoutfile

CONTRACT = """\
layouts:
  - match: "compute-*"            # glob on the node name; first match wins
    children:
      - name: NUMA0
        inventory: {VCPU: {total: 32, allocation_ratio: 4.0}, MEMORY_MB: {total: 65536, reserved: 512}}
        traits: [HW_NUMA_ROOT]
      - name: pf0
        parent: NUMA0
        inventory: {SRIOV_NET_VF: {total: 8}}
        traits: [CUSTOM_PHYSNET_A]
    hints:
      compute-1: {"6b0c9f4e-1d0a-4bb1-9b4c-2f1b7c8e9a10": NUMA0}
  - match: "*"
    children: []
"""  # noqa: E501 - the issue's own example, verbatim


def _write(tmp_path, text, name='layouts.yaml'):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_contract_shape_loads(tmp_path):
    layouts = layoutfile.load(_write(tmp_path, CONTRACT))
    rule = layouts.rule_for('compute-7')
    assert [c.name for c in rule.layout.children] == ['NUMA0', 'pf0']
    assert rule.layout.children[0].inventory['VCPU'].allocation_ratio == 4.0
    assert rule.hints['compute-1'] == {
        '6b0c9f4e-1d0a-4bb1-9b4c-2f1b7c8e9a10': 'NUMA0'}
    assert layouts.rule_for('gpu-1').layout.is_flat  # first match wins


def test_managed_traits(tmp_path):
    text = CONTRACT.replace('    hints:', '    managed_traits: '
                            '["CUSTOM_PHYSNET_*"]\n    hints:')
    rules = layoutfile.load(_write(tmp_path, text))
    layout = rules.rule_for('compute-1').layout
    assert layout.managed_traits == {'CUSTOM_PHYSNET_*'}
    assert layout.manages_trait('CUSTOM_PHYSNET_B')
    assert not layout.manages_trait('CUSTOM_GOLD')


def test_json_and_directories(tmp_path):
    (tmp_path / 'b.json').write_text(json.dumps({'layouts': [
        {'match': 'gpu-*', 'children': [
            {'name': 'g0', 'inventory': {'VGPU': 4}}]}]}))
    _write(tmp_path, 'layouts:\n  - match: "cpu-*"\n    children: []\n',
           'a.yaml')
    (tmp_path / 'notes.txt').write_text('ignored')
    layouts = layoutfile.load(tmp_path)
    assert [r.match for r in layouts.rules] == ['cpu-*', 'gpu-*']
    assert layouts.rule_for('nothing') is None


@pytest.mark.parametrize('text,where,reason', [
    ('layouts: 3', 'top level', '"layouts" list'),
    ('layouts: [3]', 'layouts[0]', 'expected a mapping'),
    ('layouts: [{match: 3}]', 'layouts[0].match', 'glob'),
    ('layouts: [{match: a, colour: red}]', 'layouts[0]', "['colour']"),
    ('layouts: [{match: a, children: [{name: N0, inventory: {VCPU: -1}}]}]',
     'layouts[0].children[0]', 'child N0: VCPU: total must be'),
    ('layouts: [{match: a, children: [{name: N0, traits: [BOGUS]}]}]',
     'layouts[0].children[0]', 'BOGUS'),
    ('layouts: [{match: a, children: [{name: N0, traits: HW_NUMA_ROOT}]}]',
     'layouts[0].children[0]', 'list of names'),
    ('layouts: [{match: a, children: [{name: p, parent: X}]}]',
     'layouts[0].children', "parent 'X'"),
    ('layouts: [{match: a, children: [], hints: [1]}]', 'layouts[0].hints',
     'node ->'),
    ('layouts: [{match: a}]', 'layouts[0]', 'children: []'),
    ('layouts: [{match: a, match: b, children: []}]', 'syntax',
     "'match' is given twice"),
    ('layouts: [{match: a, children: [{name: N0, inventory: {VCPU: {'
     'total: 4, allocation_ratio: 1.0e308}}}]}]', 'layouts[0].children[0]',
     'up to 3.40282e+38, not 1e+308'),
    ('layouts: [{match: a, children: [], managed_traits: CUSTOM_X}]',
     'layouts[0].managed_traits', 'trait patterns'),
    ('layouts: [{match: a', 'syntax', ''),
])
def test_errors_name_file_path_and_problem(tmp_path, text, where, reason):
    path = _write(tmp_path, text)
    with pytest.raises(exception.InvalidLayout) as err:
        layoutfile.load(path)
    message = str(err.value)
    assert message.startswith(f'{path}: {where}:')
    assert reason in message


def test_duplicate_json_keys(tmp_path):
    path = _write(tmp_path, '{"layouts": [], "layouts": []}', 'l.json')
    with pytest.raises(exception.InvalidLayout, match='given twice'):
        layoutfile.load(path)


def test_only_regular_utf8_files_are_read(tmp_path):
    os.mkfifo(tmp_path / 'pipe.yaml')  # reading it would hang
    (tmp_path / 'sub.yaml').mkdir()
    _write(tmp_path, 'layouts: [{match: a, children: []}]', 'a.yaml')
    assert [r.match for r in layoutfile.load(tmp_path).rules] == ['a']
    with pytest.raises(exception.InvalidLayout, match='not a regular file'):
        layoutfile.load(tmp_path / 'pipe.yaml')
    (tmp_path / 'b.yaml').write_bytes(b'layouts: [\xff]')
    with pytest.raises(exception.InvalidLayout) as err:
        layoutfile.load(tmp_path)
    assert str(err.value).startswith(f'{tmp_path / "b.yaml"}: encoding: '
                                     'not UTF-8')


def test_missing_path_and_empty_directory(tmp_path):
    with pytest.raises(exception.InvalidLayout, match='no such file'):
        layoutfile.load(tmp_path / 'nope.yaml')
    with pytest.raises(exception.InvalidLayout, match=r'no \*\.yaml'):
        layoutfile.load(tmp_path)


def test_the_reshape_keys_load(tmp_path):
    text = '''\
layouts:
  - match: "cn*"
    children:
      - name: NUMA0
        uuid: 6b0c9f4e-1d0a-4bb1-9b4c-2f1b7c8e9a10
        inventory: {VCPU: 8, PCPU: 8, MEMORY_MB: 8192}
    converts: {VCPU: PCPU}
    heals: [SRIOV_NET_VF]
    sharing: {DISK_GB: shared-storage}
    drop_root_traits: [HW_CPU_X86_AMD_SEV]
    root_traits: [CUSTOM_NUMA_AWARE]
'''
    layout = layoutfile.load(_write(tmp_path, text)).rule_for('cn1').layout
    assert layout.converts == {'VCPU': 'PCPU'}
    assert layout.heals == {'SRIOV_NET_VF'}
    assert layout.sharing == {'DISK_GB': 'shared-storage'}
    assert layout.drop_root_traits == {'HW_CPU_X86_AMD_SEV'}
    assert layout.root_traits == {'CUSTOM_NUMA_AWARE'}
    assert layout.children[0].uuid == '6b0c9f4e-1d0a-4bb1-9b4c-2f1b7c8e9a10'
    with pytest.raises(exception.InvalidLayout, match='converts'):
        layoutfile.load(_write(tmp_path, text.replace('{VCPU: PCPU}',
                                                      '[VCPU]')))


def test_keep_and_destinations_reach_the_layout(tmp_path):
    path = tmp_path / 'layouts.yaml'
    path.write_text(
        'layouts:\n'
        '  - match: "gpu-*"\n'
        '    keep: [pci_0000_85_00_0]\n'
        '    destinations: {VGPU: pci_0000_84_00_0}\n'
        '    children:\n'
        '      - name: pci_0000_84_00_0\n'
        '        inventory: {VGPU: {total: 4}}\n')
    layout = layoutfile.load(path).rule_for("gpu-1").layout
    assert layout.keep == {'pci_0000_85_00_0'}
    assert layout.destinations == {'VGPU': 'pci_0000_84_00_0'}
