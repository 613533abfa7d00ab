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

"""One name per PCI-backed device, whatever the source of facts, and
children made under another name renamed in place."""

from __future__ import annotations

from pathlib import Path

import hypothesis
from hypothesis import strategies as st
import pytest
import yaml

import nested_pivot
from nested_pivot import Child
from nested_pivot import discover
from nested_pivot import exception
from nested_pivot import Layout
from nested_pivot import layoutfile
from nested_pivot import layouts
from nested_pivot import names
from nested_pivot import novadb
from tests.unit import helpers as h

FIXTURE = Path(__file__).parents[1] / 'fixtures' / 'sysfs'
ADDRESS = '0000:18:00.0'
NAME = 'pci_0000_18_00_0'


@pytest.mark.parametrize('address,name', [
    ('0000:84:00.0', 'pci_0000_84_00_0'),
    ('0000:3B:1F.7', 'pci_0000_3b_1f_7'),
    (' 0000:af:00.1 ', 'pci_0000_af_00_1')])
def test_pci_child_name(address, name):
    assert names.pci_child_name(address) == name
    assert names.pci_address(name) == address.strip().lower()


@pytest.mark.parametrize('address', [
    '3b:00.0', '0000:3b:00.8', '0000:3b:00', 'eth0', '', '0000:3g:00.0',
    None])
def test_not_a_pci_address(address):
    with pytest.raises(exception.InvalidLayout, match='not a PCI address'):
        names.pci_child_name(address)


@hypothesis.given(st.from_regex(
    r'\A[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]\Z'))
def test_the_name_gives_the_address_back(address):
    """Fails when two addresses could share a name, or a name could not
    be read back as its address."""
    assert names.pci_address(names.pci_child_name(address)) == \
        address.lower()


def test_every_source_names_a_pf_alike():
    """Fails when discover, the builders, a layout file or nova's facts
    name the same PF differently."""
    found = discover.discover(FIXTURE, hostname='h')
    discovered = {c['name'] for c in found['layouts'][0]['children']
                  if 'SRIOV_NET_VF' in c['inventory']}
    built = layouts.sriov([layouts.PhysicalFunction(
        'ens1f0', physnet='a', vfs=8, address=ADDRESS)])
    filed = layoutfile.from_document({'layouts': [{
        'match': 'h', 'children': [
            {'address': ADDRESS, 'inventory': {'SRIOV_NET_VF': 8}}]}]}, 'f')
    facts = novadb.Facts({'h': novadb.Node(
        'h', 'h', '', (novadb.HostCell(0, 4, 0, 1024),),
        pfs=(novadb.PfRecord(ADDRESS, 0, 8, 'a'),))})
    from_nova = {c['name'] for c in
                 novadb.build(facts).document['layouts'][0]['children']}
    assert NAME in discovered
    assert [c.name for c in built.children] == [NAME]
    assert [c.name for c in filed.rules[0].layout.children] == [NAME]
    assert NAME in from_nova


def test_builders_keep_the_given_name_as_the_former_one():
    pf = layouts.sriov([layouts.PhysicalFunction(
        'ens1f0', physnet='a', vfs=8, address=ADDRESS)]).children[0]
    gpu = layouts.pgpu([layouts.PhysicalGPU(
        'pci_0000_84_00_0', vgpus=4, address='0000:84:00.0')]).children[0]
    plain = layouts.sriov([layouts.PhysicalFunction(
        'ens1f0', physnet='a', vfs=8)]).children[0]
    assert (pf.name, pf.former) == (NAME, frozenset(['ens1f0']))
    assert (gpu.name, gpu.former) == ('pci_0000_84_00_0', frozenset())
    assert (plain.name, plain.former) == ('ens1f0', frozenset())


def test_layout_file_address_and_former_names(tmp_path):
    path = tmp_path / 'l.yaml'
    path.write_text(yaml.safe_dump({'layouts': [{'match': '*', 'children': [
        {'name': NAME, 'address': ADDRESS, 'former_names': ['ens1f0'],
         'inventory': {'SRIOV_NET_VF': 8}}]}]}))
    [child] = layoutfile.load(path).rules[0].layout.children
    assert (child.name, child.former) == (NAME, frozenset(['ens1f0']))


@pytest.mark.parametrize('spec,reason', [
    ({'name': 'ens1f0', 'address': ADDRESS},
     f'address {ADDRESS} names it {NAME}'),
    ({'address': 'ens1f0'}, 'not a PCI address'),
    ({'name': NAME, 'former_names': 'ens1f0'},
     'former_names must be a list'),
    ({'name': NAME, 'former_names': ['']}, 'non-empty names'),
])
def test_layout_file_refuses_bad_names(spec, reason):
    document = {'layouts': [{'match': '*', 'children': [
        {**spec, 'inventory': {'SRIOV_NET_VF': 8}}]}]}
    with pytest.raises(layoutfile.LayoutFileError, match=reason) as caught:
        layoutfile.from_document(document, 'l.yaml')
    assert 'layouts[0].children[0]' in str(caught.value)


@pytest.mark.parametrize('children,reason', [
    ([Child('a', former=frozenset(['b'])), Child('b')], "former name 'b'"),
    ([Child('a', former=frozenset(['x'])),
      Child('b', former=frozenset(['x']))], "former name 'x'"),
])
def test_a_former_name_is_one_providers(children, reason):
    with pytest.raises(exception.InvalidLayout, match=reason):
        Layout(tuple(children))


def _pivoted_under(old: str) -> tuple[object, str, dict, str]:
    """A node pivoted with its PF named ``old``, one instance on a VF."""
    tree, root = h.flat_node(inventory={
        'VCPU': {'total': 8}, 'SRIOV_NET_VF': {'total': 4}})
    allocs = h.allocations(h.consumer('vm', {root: {
        'VCPU': 1, 'SRIOV_NET_VF': 1}}))
    nested_pivot.reshape(tree, allocs, layout=Layout((
        Child(old, inventory={'SRIOV_NET_VF': 4}),)))
    return tree, root, allocs, h.child(tree, f'cn1_{old}')


RENAMED = Layout((Child(NAME, inventory={'SRIOV_NET_VF': 4},
                        former=frozenset(['ens1f0'])),))


def test_a_child_under_its_former_name_is_renamed_in_place():
    """Fails when a PF child made under its interface name is re-created
    (a new provider, allocations moved) instead of renamed."""
    tree, _, allocs, pf = _pivoted_under('ens1f0')
    before = h.on(allocs, h.uuid('vm'))
    plan = nested_pivot.plan(tree, allocs, layout=RENAMED)
    if h.TREE_KIND == 'nova':  # nova's tree cannot rename: re-created
        assert plan.renamed == {} and plan.removed == (pf,)
        assert [p.name for p in plan.created] == [f'cn1_{NAME}']
        # The same device under its new name: its VFs follow it.
        assert {(m.source, m.target) for m in plan.moves} == {
            (pf, plan.created[0].uuid)}
        return
    assert plan.renamed == {pf: f'cn1_{NAME}'}
    assert (plan.created, plan.removed, plan.moves, plan.inventories) == \
        ((), (), (), {})
    assert not plan.is_noop and plan.allocations == {}
    nested_pivot.reshape(tree, allocs, layout=RENAMED)
    assert tree.data(pf).name == f'cn1_{NAME}'
    assert h.on(allocs, h.uuid('vm')) == before
    assert nested_pivot.plan(tree, allocs, layout=RENAMED).is_noop


def test_two_providers_under_former_names_are_refused():
    tree, _, allocs, _ = _pivoted_under('ens1f0')
    nested_pivot.reshape(tree, allocs, layout=Layout((
        Child('ens1f0', inventory={'SRIOV_NET_VF': 2}),
        Child('eth9', inventory={'SRIOV_NET_VF': 2}))))
    both = Layout((Child(NAME, inventory={'SRIOV_NET_VF': 4},
                         former=frozenset(['ens1f0', 'eth9'])),))
    if h.TREE_KIND == 'nova':
        return
    with pytest.raises(exception.InvalidLayout, match='which one it was'):
        nested_pivot.plan(tree, allocs, layout=both)


def test_flat_of_a_renamed_layout_owns_the_former_names():
    assert {'ens1f0', NAME} <= RENAMED.flat().adopted
