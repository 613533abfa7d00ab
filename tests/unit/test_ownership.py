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

"""A layout manages only the providers and traits it owns.

nova hands a driver the node's whole subtree: neutron's bandwidth
providers, nova's own PCI providers and Cyborg's devices sit there next to
the driver's children, and operators put their own traits on the driver's
children.  None of that may be removed, emptied, moved or rewritten.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import assume
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

NUMA2 = layouts.numa([layouts.NumaCell(vcpu=8, memory_mb=8192),
                      layouts.NumaCell(vcpu=8, memory_mb=8192)])
BANDWIDTH = {'NET_BW_EGR_KILOBIT_PER_SEC': {'total': 10000},
             'NET_BW_IGR_KILOBIT_PER_SEC': {'total': 10000}}


def _neutron_bridge(tree: Any, root: str) -> str:
    """A neutron agent's bandwidth provider under the compute node."""
    uuid = tree.new_child('cn1:Open vSwitch agent:br-ex', root,
                          uuid=h.uuid('br-ex'))
    tree.update_inventory(uuid, BANDWIDTH)
    tree.update_traits(uuid, ['CUSTOM_PHYSNET_PUBLIC',
                              'CUSTOM_VNIC_TYPE_NORMAL'])
    return uuid


def _pci_device(tree: Any, root: str) -> str:
    """nova's own PCI-in-placement provider for one device."""
    uuid = tree.new_child('cn1_0000:81:00.0', root, uuid=h.uuid('pci'))
    tree.update_inventory(uuid, {'CUSTOM_PCI_8086_1563': {'total': 1}})
    tree.update_traits(uuid, ['COMPUTE_MANAGED_PCI_DEVICE'])
    return uuid


def _node_with_foreign_children() -> tuple[Any, str, list[str], Any]:
    tree, root = h.flat_node()
    bridge, pci = _neutron_bridge(tree, root), _pci_device(tree, root)
    allocs = h.allocations(
        h.consumer('vm0', {root: {'VCPU': 2, 'MEMORY_MB': 2048},
                           bridge: {'NET_BW_EGR_KILOBIT_PER_SEC': 1000}}),
        h.consumer('vm1', {root: {'VCPU': 2, 'MEMORY_MB': 1024},
                           pci: {'CUSTOM_PCI_8086_1563': 1}}))
    return tree, root, [bridge, pci], allocs


def _foreign(tree: Any, uuids: list[str]) -> list[Any]:
    return [d for d in h.snapshot(tree) if d[0] in uuids]


def _held_on(allocs: dict[str, Any], uuids: list[str]) -> dict[str, Any]:
    return {c: {rp: e['resources'] for rp, e in rec['allocations'].items()
                if rp in uuids} for c, rec in allocs.items()}


def test_foreign_children_survive_pivot_repivot_and_rollback():
    tree, root, foreign, allocs = _node_with_foreign_children()
    untouched, held = _foreign(tree, foreign), _held_on(allocs, foreign)
    plan = nested_pivot.reshape(tree, allocs, layout=NUMA2)
    assert plan.removed == () and plan.foreign == frozenset(foreign)
    assert not {m.source for m in plan.moves} & set(foreign)
    for _ in range(2):
        assert _foreign(tree, foreign) == untouched
        assert _held_on(allocs, foreign) == held
        assert nested_pivot.reshape(tree, allocs, layout=NUMA2).is_noop
    back = nested_pivot.reshape(tree, allocs, layout=NUMA2.flat())
    assert len(back.removed) == 2
    assert _foreign(tree, foreign) == untouched
    assert _held_on(allocs, foreign) == held
    assert set(tree.get_provider_uuids(root)) == {root, *foreign}


def test_foreign_inventory_is_never_moved_to_the_root():
    """The PCI consumer keeps its device class on nova's PCI provider, and
    the root never gains that class."""
    tree, root, (_, pci), allocs = _node_with_foreign_children()
    nested_pivot.reshape(tree, allocs, layout=NUMA2)
    assert h.on(allocs, h.uuid('vm1'))[pci] == {'CUSTOM_PCI_8086_1563': 1}
    assert 'CUSTOM_PCI_8086_1563' not in tree.data(root).inventory


def test_foreign_providers_take_no_moved_allocation():
    tree, root = h.flat_node(inventory={'SRIOV_NET_VF': {'total': 8}})
    pf = tree.new_child('cn1_legacy_pf', root, uuid=h.uuid('legacy'))
    tree.update_inventory(pf, {'SRIOV_NET_VF': {'total': 8}})
    allocs = h.allocations(h.consumer('vm', {root: {'SRIOV_NET_VF': 2}}))
    layout = layouts.sriov([layouts.PhysicalFunction('ens1', 'net1', 8)])
    nested_pivot.reshape(tree, allocs, layout=layout)
    assert h.on(allocs, h.uuid('vm')) == {h.child(tree, 'cn1_ens1'):
                                          {'SRIOV_NET_VF': 2}}


def test_a_hint_naming_a_foreign_provider_is_refused():
    tree, _, (bridge, _), allocs = _node_with_foreign_children()
    with pytest.raises(exception.InvalidHint, match='another service'):
        nested_pivot.reshape(tree, allocs, layout=NUMA2,
                             hints={h.uuid('vm0'): bridge})


def test_operator_traits_on_children_stay():
    tree, _ = h.flat_node()
    nested_pivot.reshape(tree, {}, layout=NUMA2)
    numa0 = h.child(tree, 'cn1_NUMA0')
    tree.add_traits(numa0, 'CUSTOM_GOLD')
    assert nested_pivot.reshape(tree, {}, layout=NUMA2).is_noop
    assert tree.data(numa0).traits == {'HW_NUMA_ROOT', 'CUSTOM_GOLD'}


def test_managed_traits_are_replaced_and_others_kept():
    """A PF moved to another physnet loses the old physnet trait (sriov()
    manages CUSTOM_PHYSNET_*) but keeps the operator's trait."""
    tree, _ = h.flat_node(inventory={'SRIOV_NET_VF': {'total': 8}})
    nested_pivot.reshape(tree, {}, layout=layouts.sriov(
        [layouts.PhysicalFunction('ens1', 'net1', 8)]))
    pf = h.child(tree, 'cn1_ens1')
    tree.add_traits(pf, 'CUSTOM_FAST')
    plan = nested_pivot.reshape(tree, {}, layout=layouts.sriov(
        [layouts.PhysicalFunction('ens1', 'net2', 8)]))
    assert tree.data(pf).traits == {'CUSTOM_PHYSNET_NET2', 'CUSTOM_FAST'}
    assert plan.traits[pf] == nested_pivot.TraitChange(
        add=frozenset({'CUSTOM_PHYSNET_NET2'}),
        remove=frozenset({'CUSTOM_PHYSNET_NET1'}))


def test_children_made_by_nova_are_adopted_not_duplicated():
    """nova's SEV code names its child <node>_amd_sev, with a random uuid
    and nova's traits: a layout naming amd_sev takes it over as it is."""
    tree, root = h.flat_node(inventory={'MEM_ENCRYPTION_CONTEXT':
                                        {'total': 100}})
    sev = tree.new_child('cn1_amd_sev', root, uuid=h.uuid('nova-sev'))
    tree.update_traits(sev, ['HW_CPU_X86_AMD_SEV', 'OWNER_NOVA'])
    allocs = h.allocations(h.consumer('vm', {root: {
        'MEM_ENCRYPTION_CONTEXT': 1}}))
    layout = Layout([Child('amd_sev', inventory={
        'MEM_ENCRYPTION_CONTEXT': 100}, traits=['HW_CPU_X86_AMD_SEV'])])
    plan = nested_pivot.reshape(tree, allocs, layout=layout)
    assert plan.created == () and tree.get_provider_uuids() == [root, sev]
    assert tree.data(sev).traits == {'HW_CPU_X86_AMD_SEV', 'OWNER_NOVA'}
    assert h.on(allocs, h.uuid('vm')) == {sev: {'MEM_ENCRYPTION_CONTEXT': 1}}
    # A flat layout that does not name it leaves nova's child alone; the
    # flat form of the layout owns it by name and removes it.
    assert not target.created_here(plan.after, sev)
    kept = nested_pivot.plan(tree, allocs, layout=Layout())
    assert kept.removed == () and kept.is_noop
    back = nested_pivot.reshape(tree, allocs, layout=layout.flat())
    assert back.removed == (sev,)


def test_removing_a_child_with_a_foreign_provider_below_is_refused():
    tree, _ = h.flat_node()
    nested_pivot.reshape(tree, {}, layout=NUMA2)
    numa0 = h.child(tree, 'cn1_NUMA0')
    tree.new_child('cyborg-fpga', numa0, uuid=h.uuid('fpga'))
    before = h.snapshot(tree)
    with pytest.raises(exception.InvalidLayout, match='cyborg-fpga'):
        nested_pivot.reshape(tree, {}, layout=Layout())
    assert h.snapshot(tree) == before


def test_created_children_are_recognised_by_name_and_uuid():
    tree, root = h.flat_node()
    plan = nested_pivot.reshape(tree, {}, layout=NUMA2)
    numa0 = h.child(tree, 'cn1_NUMA0')
    assert numa0 == target.child_uuid(root, 'NUMA0')
    assert target.created_here(plan.after, numa0)
    assert nested_pivot.engine.owned_children(tree, Layout()) == tuple(
        h.child(tree, f'cn1_NUMA{i}') for i in range(2))


# -- property: foreign providers survive anything ------------------------

@st.composite
def foreign_scenarios(draw: Any) -> tuple[Layout, dict[str, Any], list]:
    cells = draw(st.integers(1, 3))
    layout = Layout(tuple(
        Child(f'N{i}', inventory={'VCPU': draw(st.integers(4, 12))},
              traits=draw(st.sets(st.sampled_from(
                  ['HW_NUMA_ROOT', 'CUSTOM_A']))))
        for i in range(cells)))
    foreign = []
    for i in range(draw(st.integers(1, 3))):
        rc = draw(st.sampled_from(['VCPU', 'CUSTOM_DEV', 'SRIOV_NET_VF']))
        parent = draw(st.sampled_from([None, *[f'f{j}' for j in
                                               range(i)]]))
        traits = draw(st.sets(st.sampled_from(
            ['CUSTOM_A', 'CUSTOM_OP', 'HW_NUMA_ROOT']), max_size=2))
        foreign.append((f'f{i}', parent, rc, draw(st.integers(1, 9)),
                        sorted(traits)))
    return layout, {'VCPU': {'total': 40}}, foreign


def _add_foreign(tree: Any, root: str, foreign: list) -> list[str]:
    uuids = {None: root}
    for name, parent, rc, total, traits in foreign:
        uuid = tree.new_child(f'svc-{name}', uuids[parent],
                              uuid=h.uuid(name))
        tree.update_inventory(uuid, {rc: {'total': total}})
        tree.update_traits(uuid, traits)
        uuids[name] = uuid
    return [uuids[f[0]] for f in foreign]


@given(foreign_scenarios(), st.lists(st.integers(1, 3), max_size=5))
def test_foreign_providers_survive_any_pivot(scenario, vcpus):
    layout, root_inventory, foreign = scenario
    tree, root = h.flat_node(inventory=root_inventory)
    others = _add_foreign(tree, root, foreign)
    allocs = h.allocations(*(
        h.consumer(f'v{i}', {root: {'VCPU': n}, others[i % len(others)]:
                             {foreign[i % len(foreign)][2]: 1}})
        for i, n in enumerate(vcpus)))
    untouched, held = _foreign(tree, others), _held_on(allocs, others)
    redone = Layout(layout.children[:1])
    for step in (layout, layout, redone, layout.flat()):
        before = (h.snapshot(tree), copy.deepcopy(allocs))
        try:
            nested_pivot.reshape(tree, allocs, layout=step)
        except exception.CannotPivot:
            assert (h.snapshot(tree), allocs) == before
            assume(False)
        assert _foreign(tree, others) == untouched
        assert _held_on(allocs, others) == held
    assert set(tree.get_provider_uuids(root)) == {root, *others}
