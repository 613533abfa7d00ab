"""The journal: whole entries, in order, per node."""

from __future__ import annotations

import json

import nested_pivot
from nested_pivot import layouts
from nested_pivot.journal import Journal
from tests.unit import helpers as h

NUMA2 = layouts.numa([layouts.NumaCell(vcpu=8), layouts.NumaCell(vcpu=8)])


def test_preimage_then_result(tmp_path):
    tree, root = h.flat_node(inventory={'VCPU': {'total': 16}})
    allocs = h.allocations(h.consumer('a', {root: {'VCPU': 2}}),
                           h.consumer('b', {root: {'VCPU': 2}}))
    plan = nested_pivot.plan(tree, allocs, layout=NUMA2)
    journal = Journal(tmp_path / 'state')
    journal.record_preimage(plan, allocs)
    journal.record_result('cn1', 'done', '2 consumers moved')
    entries = journal.entries('cn1')
    assert [e.kind for e in entries] == ['pre-image', 'result']
    pre = entries[0].body
    assert pre['uuid'] == root and set(pre['consumers']) == set(allocs)
    assert pre['consumers'][h.uuid('a')] == allocs[h.uuid('a')]
    assert pre['tree'][0]['inventory']['VCPU']['total'] == 16
    assert len(pre['moves']) == 2
    assert journal.last_preimage('cn1') == entries[0]
    assert entries[1].body['outcome'] == 'done'
    # Whole files only: no temporary file is left behind.
    names = sorted(p.name for p in (tmp_path / 'state' / 'cn1').iterdir())
    assert names == ['000000-pre-image.json', '000001-result.json']
    assert json.loads((tmp_path / 'state/cn1' / names[0]).read_text())


def test_unknown_node_has_no_entries(tmp_path):
    journal = Journal(tmp_path)
    assert journal.entries('nobody') == []
    assert journal.last_preimage('nobody') is None


def test_node_names_cannot_escape_the_state_dir(tmp_path):
    journal = Journal(tmp_path / 'state')
    entry = journal.record_result('../../etc/x', 'failed')
    assert (tmp_path / 'state') in entry.path.parents


def test_flat_records_are_the_roots_before_its_last_pivot(tmp_path):
    flat = {'VCPU': {'total': 16, 'reserved': 2}, 'DISK_GB': {'total': 9}}
    tree, root = h.flat_node(inventory=flat)
    allocs = h.allocations(h.consumer('a', {root: {'VCPU': 2}}))
    journal = Journal(tmp_path)
    assert journal.flat_records('cn1') is None
    plan = nested_pivot.reshape(tree, allocs, layout=NUMA2)
    journal.record_preimage(plan, allocs)
    rollback = nested_pivot.plan(tree, allocs, layout=nested_pivot.Layout())
    journal.record_preimage(rollback, allocs)  # the rollback's own
    records = journal.flat_records('cn1')
    assert records is not None and set(records) == {'VCPU'}
    assert records['VCPU']['reserved'] == 2
