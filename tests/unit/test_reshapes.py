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

"""Every reshape nova ever shipped, as a layout plus the driver's facts:
class conversion (VCPU to PCPU), sharing providers, classes split across
children, heals, fixed uuids, root traits, and layout changes."""

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
from nested_pivot import Inventory
from nested_pivot import Layout
from nested_pivot import layouts
from tests.unit import helpers as h

PINNED = h.uuid('pinned')
FLOATING = h.uuid('floating')


def _cpu_node() -> tuple[Any, str, dict[str, Any]]:
    tree, root = h.flat_node(inventory={'VCPU': {'total': 16},
                                        'MEMORY_MB': {'total': 16384}})
    allocs = h.allocations(
        h.consumer('pinned', {root: {'VCPU': 4, 'MEMORY_MB': 1024}}),
        h.consumer('floating', {root: {'VCPU': 2, 'MEMORY_MB': 512}}))
    return tree, root, allocs


CONVERT = {PINNED: {'convert': {'VCPU': 'PCPU'}}}


def test_pinned_instances_convert_vcpu_to_pcpu_on_the_root():
    """nova's Train reshape: same provider, new class."""
    tree, root, allocs = _cpu_node()
    layout = Layout(converts={'VCPU': 'PCPU'})
    root_inventory = {'VCPU': {'total': 8}, 'PCPU': {'total': 8},
                      'MEMORY_MB': {'total': 16384}}
    plan = nested_pivot.reshape(tree, allocs, layout=layout, hints=CONVERT,
                                root_inventory=root_inventory)
    assert h.on(allocs, PINNED) == {root: {'PCPU': 4, 'MEMORY_MB': 1024}}
    assert h.on(allocs, FLOATING) == {root: {'VCPU': 2, 'MEMORY_MB': 512}}
    assert plan.consumers == (PINNED,)
    assert [(m.resource_class, m.converted_from, m.source, m.target)
            for m in plan.moves] == [('PCPU', 'VCPU', root, root)]
    assert tree.data(root).inventory['PCPU']['total'] == 8
    again = nested_pivot.reshape(tree, allocs, layout=layout, hints=CONVERT,
                                 root_inventory=root_inventory)
    assert again.is_noop


def test_conversion_and_numa_pivot_in_one_reshape():
    tree, root, allocs = _cpu_node()
    cells = layouts.numa([
        layouts.NumaCell(vcpu=4, pcpu=4, memory_mb=8192),
        layouts.NumaCell(vcpu=4, pcpu=4, memory_mb=8192)])
    layout = cells + Layout(converts={'VCPU': 'PCPU'})
    plan = nested_pivot.reshape(tree, allocs, layout=layout, hints={
        PINNED: {'convert': {'VCPU': 'PCPU'}, 'PCPU': 'NUMA1'}})
    numa1 = h.child(tree, 'cn1_NUMA1')
    assert h.on(allocs, PINNED) == {numa1: {'PCPU': 4, 'MEMORY_MB': 1024}}
    floating = h.on(allocs, FLOATING)
    assert len(floating) == 1
    assert next(iter(floating.values())) == {'VCPU': 2, 'MEMORY_MB': 512}
    pcpu = [m for m in plan.moves if m.resource_class == 'PCPU']
    assert pcpu == [nested_pivot.Move(PINNED, 'PCPU', 4, root, numa1,
                                      'VCPU')]
    assert h.totals(allocs)[PINNED] == {'PCPU': 4, 'MEMORY_MB': 1024}


def test_converted_amounts_are_checked_against_the_new_class():
    tree, _, allocs = _cpu_node()
    layout = layouts.numa([layouts.NumaCell(vcpu=8, pcpu=2,
                                            memory_mb=16384)]) + layouts.pcpu()
    before = (h.snapshot(tree), copy.deepcopy(allocs))
    with pytest.raises(exception.CannotPivot, match='PCPU=4'):
        nested_pivot.reshape(tree, allocs, layout=layout, hints=CONVERT)
    assert (h.snapshot(tree), allocs) == before


@pytest.mark.parametrize('hint,match', [
    ({PINNED: {'convert': {'DISK_GB': 'PCPU'}}}, 'holds no DISK_GB'),
    ({PINNED: {'convert': {'MEMORY_MB': 'PCPU'}}}, 'declares no conv'),
    ({PINNED: {'heal': {'VGPU': 1}}}, 'heals no VGPU'),
    ({PINNED: {'convert': {'VCPU': 'VCPU'}}}, 'convert: expected'),
    ({PINNED: {'convert': 'PCPU'}}, 'convert: expected'),
    ({h.uuid('ghost'): {'convert': {'VCPU': 'PCPU'}}}, 'no allocations'),
])
def test_bad_conversions(hint, match):
    tree, _, allocs = _cpu_node()
    layout = Layout(converts={'VCPU': 'PCPU', 'DISK_GB': 'PCPU'})
    with pytest.raises(exception.InvalidHint, match=match):
        nested_pivot.plan(tree, allocs, layout=layout, hints=hint)


def _shared_disk(tree: Any, root: str, traits: tuple[str, ...] = (
        'MISC_SHARES_VIA_AGGREGATE',)) -> str:
    share = h.uuid('ssp')
    tree.new_root('ssp', share, generation=3)
    tree.update_inventory(share, {'DISK_GB': {'total': 500}})
    tree.update_traits(share, traits)
    return share


def test_disk_goes_to_a_sharing_provider():
    tree, root = h.flat_node()
    share = _shared_disk(tree, root)
    allocs = h.allocations(h.consumer('vm', {root: {'VCPU': 1,
                                                    'DISK_GB': 20}}))
    layout = Layout(sharing={'DISK_GB': 'ssp'})
    plan = nested_pivot.reshape(tree, allocs, layout=layout, nodename='cn1')
    assert h.on(allocs, h.uuid('vm')) == {root: {'VCPU': 1},
                                          share: {'DISK_GB': 20}}
    assert 'DISK_GB' not in tree.data(root).inventory
    assert tree.data(share).inventory['DISK_GB']['total'] == 500
    assert share not in plan.inventories and share in plan.foreign


@pytest.mark.parametrize('traits,match', [
    ((), 'not a sharing provider'), (None, 'not known')])
def test_a_sharing_target_must_be_a_known_sharing_provider(traits, match):
    tree, root = h.flat_node()
    if traits is not None:
        _shared_disk(tree, root, traits)
    with pytest.raises(exception.InvalidLayout, match=match):
        nested_pivot.plan(tree, {}, layout=Layout(sharing={'DISK_GB': 'ssp'}),
                          nodename='cn1')


def test_classes_split_across_children():
    """ProviderTreeTests' shape: VCPU to one child, MEMORY_MB to another."""
    tree, _, allocs = _cpu_node()
    layout = Layout([Child('n1', inventory={'VCPU': 16}),
                     Child('n2', inventory={'MEMORY_MB': 16384})])
    nested_pivot.reshape(tree, allocs, layout=layout)
    n1, n2 = h.child(tree, 'cn1_n1'), h.child(tree, 'cn1_n2')
    assert h.on(allocs, PINNED) == {n1: {'VCPU': 4}, n2: {'MEMORY_MB': 1024}}


def test_heals_add_what_consumers_used_but_never_held():
    tree, _, allocs = _cpu_node()
    layout = layouts.sriov([layouts.PhysicalFunction('pf1', 'net', 2),
                            layouts.PhysicalFunction('pf2', 'net', 2)])
    layout = layout + Layout(heals={'SRIOV_NET_VF'})
    hints = {PINNED: {'heal': {'SRIOV_NET_VF': {'pf2': 1}}},
             FLOATING: {'heal': {'SRIOV_NET_VF': 2}}}
    plan = nested_pivot.reshape(tree, allocs, layout=layout, hints=hints)
    pf2 = h.child(tree, 'cn1_pf2')
    assert h.on(allocs, PINNED)[pf2] == {'SRIOV_NET_VF': 1}
    assert sum(r.get('SRIOV_NET_VF', 0)
               for r in h.on(allocs, FLOATING).values()) == 2
    assert sorted((x.consumer, x.amount) for x in plan.heals) == sorted(
        [(PINNED, 1), (FLOATING, 2)])
    assert plan.moves == ()  # nothing moved: heals are apart
    assert set(plan.consumers) == {PINNED, FLOATING}
    again = nested_pivot.reshape(tree, allocs, layout=layout, hints=hints)
    assert again.is_noop


def test_heals_respect_capacity_and_what_is_held():
    tree, _, allocs = _cpu_node()
    layout = layouts.sriov([layouts.PhysicalFunction('pf1', 'net', 1)])
    layout += Layout(heals={'SRIOV_NET_VF', 'VCPU'})
    with pytest.raises(exception.CannotPivot):
        nested_pivot.plan(tree, allocs, layout=layout, hints={
            PINNED: {'heal': {'SRIOV_NET_VF': 2}}})
    with pytest.raises(exception.InvalidHint, match='holds 4'):
        nested_pivot.plan(tree, allocs, layout=layout, hints={
            PINNED: {'heal': {'VCPU': 1}}})


def test_a_child_with_a_fixed_uuid():
    tree, _, allocs = _cpu_node()
    fixed = h.uuid('numa1-fixed')
    nested_pivot.reshape(tree, allocs, layout=Layout([
        Child('numa1', inventory={'VCPU': 16}, uuid=fixed)]))
    assert tree.data(fixed).name == 'cn1_numa1'
    assert h.on(allocs, PINNED)[fixed] == {'VCPU': 4}


def test_a_fixed_uuid_taken_by_another_child_is_refused():
    tree, _ = h.flat_node()
    nested_pivot.reshape(tree, {}, layout=Layout([Child('a')]))
    taken = h.child(tree, 'cn1_a')
    with pytest.raises(exception.InvalidLayout, match='holds that name'):
        nested_pivot.plan(tree, {}, layout=Layout([Child('b', uuid=taken)]))


def test_sev_moves_the_context_to_a_child_and_drops_the_root_trait():
    tree, root = h.flat_node(inventory={'MEM_ENCRYPTION_CONTEXT':
                                        {'total': 100, 'max_unit': 1}})
    tree.update_traits(root, ['HW_CPU_X86_AMD_SEV', 'COMPUTE_NODE'])
    allocs = h.allocations(h.consumer('vm', {root: {
        'MEM_ENCRYPTION_CONTEXT': 1}}))
    layout = layouts.sev(contexts=100)
    nested_pivot.reshape(tree, allocs, layout=layout)
    sev = h.child(tree, 'cn1_amd_sev')
    assert tree.data(root).traits == {'COMPUTE_NODE'}
    assert tree.data(sev).traits == {'HW_CPU_X86_AMD_SEV', 'OWNER_NOVA'}
    assert h.on(allocs, h.uuid('vm')) == {sev: {'MEM_ENCRYPTION_CONTEXT': 1}}
    nested_pivot.reshape(tree, allocs, layout=layout.flat())
    assert tree.data(root).traits == {'COMPUTE_NODE', 'HW_CPU_X86_AMD_SEV'}


# -- property: any sequence of layouts, each one reshape -------------------

@st.composite
def layout_sequences(draw: Any) -> list[Layout]:
    def one() -> Layout:
        cells = draw(st.integers(1, 3))
        children = [Child(f'N{i}', inventory={
            'VCPU': draw(st.integers(6, 14))}) for i in range(cells)]
        for i in range(draw(st.integers(0, 2))):
            parent = draw(st.sampled_from([None, *(c.name for c in
                                                   children[:cells])]))
            children.append(Child(f'pf{i}', parent=parent, inventory={
                'SRIOV_NET_VF': draw(st.integers(3, 8))}))
        return Layout(tuple(children))

    return [one() for _ in range(3)]


@given(layout_sequences(), st.lists(st.tuples(st.integers(1, 3),
                                              st.integers(0, 1)),
                                    max_size=6))
def test_layouts_a_b_c_then_flat(sequence, vms):
    tree, root = h.flat_node(inventory={'VCPU': {'total': 40},
                                        'SRIOV_NET_VF': {'total': 40}})
    allocs = h.allocations(*(
        h.consumer(f'v{i}', {root: {'VCPU': n, **({'SRIOV_NET_VF': vf}
                                                  if vf else {})}})
        for i, (n, vf) in enumerate(vms)))
    totals = h.totals(allocs)
    for step in (*sequence, Layout()):
        before = (h.snapshot(tree), copy.deepcopy(allocs))
        try:
            nested_pivot.reshape(tree, allocs, layout=step)
        except exception.CannotPivot:
            assert (h.snapshot(tree), allocs) == before
            assume(False)
        except exception.InvalidLayout as err:
            # Only nova's tree cannot move a child to a new parent.
            assert h.TREE_KIND == 'nova' and 'cannot move' in str(err)
            assume(False)
        assert h.totals(allocs) == totals
        _within_capacity(tree, allocs)
    assert tree.get_provider_uuids() == [root]


def _within_capacity(tree: Any, allocs: dict[str, Any]) -> None:
    used: dict[tuple[str, str], int] = {}
    for record in allocs.values():
        for rp, entry in record['allocations'].items():
            for rc, n in entry['resources'].items():
                used[(rp, rc)] = used.get((rp, rc), 0) + n
    for (rp, rc), n in used.items():
        record = tree.data(rp).inventory[rc]
        assert n <= Inventory.from_value(record).capacity
