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

"""The layout file's one writer: what it writes, the reader reads back as
the same rules."""

from __future__ import annotations

from pathlib import Path
import tempfile
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
import pytest

from nested_pivot import exception
from nested_pivot import layoutfile
from nested_pivot import layouts
from nested_pivot.layout import Child
from nested_pivot.layout import FIELDS
from nested_pivot.layout import Inventory
from nested_pivot.layout import Layout
from nested_pivot.layout import MAX_INT
from nested_pivot.layout import MAX_RATIO
from nested_pivot.layoutfile import Rule

CLASSES = ('VCPU', 'PCPU', 'MEMORY_MB', 'DISK_GB', 'SRIOV_NET_VF', 'VGPU',
           'CUSTOM_FPGA')
TRAITS = ('HW_NUMA_ROOT', 'CUSTOM_PHYSNET_A', 'CUSTOM_1E5', 'OWNER_NOVA')
NAMES = st.sampled_from(['c', 'NUMA', 'pci_0000_3b_00_', '1e', 'gpu-',
                         'Ünïcode ', '010_'])
"""Stems of child names: some that YAML 1.1 and 1.2 read differently
(``1e5``), some with characters a writer must quote or encode."""


@st.composite
def records(draw: Any) -> Any:
    """A record as a layout may give it: a total, the fields it gives,
    or an Inventory."""
    total = draw(st.integers(1, MAX_INT))
    max_unit = draw(st.sampled_from([total, MAX_INT, 1]))
    fields = {
        'reserved': draw(st.integers(0, total)),
        'min_unit': draw(st.integers(1, max_unit)),
        'max_unit': max_unit,
        'step_size': draw(st.integers(1, 4)),
        'allocation_ratio': draw(st.sampled_from(
            [1.0, 1.5, 16.0, 0.25, 2, MAX_RATIO, 1e-7])),
    }
    form = draw(st.sampled_from(['total', 'record', 'inventory']))
    if form == 'total':
        return total
    if form == 'inventory':
        return Inventory(total, **fields)
    given = draw(st.sets(st.sampled_from(sorted(fields))))
    return {'total': total, **{f: fields[f] for f in sorted(given)}}


@st.composite
def children(draw: Any) -> list[Child]:
    found: list[Child] = []
    for i in range(draw(st.integers(0, 5))):
        classes = draw(st.sets(st.sampled_from(CLASSES), max_size=3))
        found.append(Child(
            name=f'{draw(NAMES)}{i}',
            parent=draw(st.sampled_from([None, *(c.name for c in found)])),
            inventory={rc: draw(records()) for rc in sorted(classes)},
            traits=frozenset(draw(st.sets(st.sampled_from(TRAITS)))),
            uuid=draw(st.none() | st.uuids().map(str)),
            former=frozenset(draw(st.sets(st.sampled_from(
                [f'old{i}', f'ens{i}f0']), max_size=2)))))
    return found


@st.composite
def layouts_(draw: Any) -> tuple[Layout, tuple[str, ...]]:
    """Any layout a file can hold: children, given in any order (a child
    before its parent too), and every field a rule writes."""
    kids = draw(st.permutations(draw(children())))
    offered = sorted({(rc, c.name) for c in kids for rc in c.inventory})
    on_children = {rc for rc, _ in offered}
    destinations = dict(draw(st.lists(st.sampled_from(offered),
                                      max_size=2)) if offered else [])
    return Layout(
        tuple(kids),
        managed_traits=frozenset(draw(st.sets(st.sampled_from(
            ['CUSTOM_PHYSNET_*', 'CUSTOM_X?', 'HW_GPU_*'])))),
        sharing={} if 'DISK_GB' in on_children or not draw(st.booleans())
        else {'DISK_GB': 'shared-storage'},
        converts=draw(st.sampled_from([{}, {'VCPU': 'PCPU'}])),
        heals=frozenset(draw(st.sets(st.sampled_from(CLASSES)))),
        root_traits=frozenset(draw(st.sets(st.sampled_from(
            ['CUSTOM_ROOT', 'COMPUTE_STATUS_DISABLED'])))),
        drop_root_traits=frozenset(draw(st.sets(st.sampled_from(
            ['HW_CPU_X86_AMD_SEV'])))),
        keep=frozenset(draw(st.sets(st.sampled_from(['kept', 'pci_x'])))),
        destinations=destinations), tuple(c.name for c in kids)


@st.composite
def rules(draw: Any) -> Rule:
    """A rule listing its children in the order its layout was given
    them, or in the layout's own order (``listed`` empty)."""
    layout, given = draw(layouts_())
    node = draw(st.sampled_from(['compute-1', '1e5', 'n[1]']))
    names = [c.name for c in layout.children]
    hints: dict[str, Any] = {}
    if names and draw(st.booleans()):
        hints = {node: {
            'c1': draw(st.sampled_from(names)),
            'c2': {'VCPU': {draw(st.sampled_from(names)): 2},
                   'convert': {'VCPU': 'PCPU'}}}}
    return Rule(draw(st.sampled_from(['compute-*', node, '*'])), layout,
                hints, 'generated',
                listed=draw(st.sampled_from([given, ()])))


def _given(layout: Layout) -> set[tuple[str, str, str]]:
    """Each field of each child's records that the layout gave, rather
    than leave to the default rule."""
    return {(c.name, rc, f) for c in layout.children for rc in c.inventory
            for f in FIELDS if c.given(rc, f)}


def _read_back(text: str) -> layoutfile.Layouts:
    """``text`` read as the CLI reads ``--layouts FILE``."""
    with tempfile.TemporaryDirectory() as where:
        path = Path(where) / 'layouts.yaml'
        path.write_text(text, encoding='utf-8')
        return layoutfile.load(path)


@given(st.lists(rules(), min_size=1, max_size=3))
def test_what_is_written_reads_back_as_the_same_rules(written):
    """Fails when the writer writes a layout, its rule or its hints in a
    form the reader reads otherwise: a field lost or changed, a field
    left to the default rule written (or one given left out), a child
    out of the rule's order, a string the YAML 1.2 reader takes for a
    number."""
    document = layoutfile.as_document(written)
    text = layoutfile.dump(document)
    read = _read_back(text).rules
    assert [r.match for r in read] == [r.match for r in written]
    for back, rule in zip(read, written, strict=True):
        assert back.layout == rule.layout
        assert back.hints == rule.hints
        assert [c.name for c in back.children] == [
            c.name for c in rule.children]
        assert _given(back.layout) == _given(rule.layout)
    assert layoutfile.as_document(read) == document
    assert layoutfile.dump(layoutfile.as_document(read)) == text


def test_a_record_writes_only_what_the_layout_gave():
    """Fails when a field left to the default rule (kept from Placement
    or the former root, :mod:`nested_pivot.engine.fields`) is written:
    the file would pin Placement's default in its place."""
    child = Child('NUMA0', inventory={
        'VCPU': 8, 'MEMORY_MB': {'total': 1024, 'reserved': 512},
        'PCPU': Inventory(4)})
    assert layoutfile.as_child(child)['inventory'] == {
        'VCPU': {'total': 8}, 'PCPU': Inventory(4).as_dict(),
        'MEMORY_MB': {'total': 1024, 'reserved': 512}}


def test_classes_are_written_in_nova_order_then_by_name():
    child = Child('c', inventory=dict.fromkeys(
        ['VGPU', 'MEMORY_MB', 'DISK_GB', 'VCPU', 'PCPU'], 1))
    assert list(layoutfile.as_child(child)['inventory']) == [
        'VCPU', 'PCPU', 'MEMORY_MB', 'DISK_GB', 'VGPU']


def test_children_left_out_of_listed_follow_in_the_layout_order():
    layout = layouts.numa([{'vcpu': 1}, {'vcpu': 1}, {'vcpu': 1}])
    rule = Rule('*', layout, {}, 'here', listed=('NUMA2', 'gone'))
    assert [c['name'] for c in layoutfile.as_entry(rule)['children']] == [
        'NUMA2', 'NUMA0', 'NUMA1']


@pytest.mark.parametrize('layout,field', [
    (Layout(adopted=frozenset(['old'])), 'adopted'),
    (Layout(managed_classes=frozenset(['VGPU'])), 'managed_classes'),
    (layouts.numa([{'vcpu': 1}]).flat(), 'adopted or managed_classes'),
])
def test_what_no_file_can_hold_is_refused(layout, field):
    """Fails when a layout is written without the fields a rollback or
    the hook computed: read back, it would own less than it did."""
    with pytest.raises(exception.InvalidLayout,
                       match=f'cannot hold {field}$'):
        layoutfile.as_entry(Rule('n', layout, {}, 'here'))


def test_built_rules_are_checked_as_a_file_is():
    """Fails when rules a program built skip the checks a file's get:
    names a database takes for one, hints that can never apply."""
    twins = Layout((Child('numa0', inventory={'VCPU': 1}),
                    Child('NUMA0', inventory={'VCPU': 1})))
    rule = Rule('n1', twins, {}, 'here')
    with pytest.raises(exception.LayoutFileError) as built:
        layoutfile.from_rules([rule], 'here')
    with pytest.raises(exception.LayoutFileError) as read:
        layoutfile.from_document(layoutfile.as_document([rule]), 'here')
    assert str(built.value) == str(read.value)
    assert 'layouts[0].children[1].name' in str(built.value)
    hinted = Rule('n1', layouts.numa([{'vcpu': 1}]),
                  {'n2': {'c': 'NUMA0'}}, 'here')
    assert layoutfile.from_rules([hinted], 'here').warnings == \
        layoutfile.from_document(layoutfile.as_document([hinted]),
                                 'here').warnings != ()
