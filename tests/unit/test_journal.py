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

"""The journal: whole entries, in order, per node; trusted only as far as
it can be."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path
import stat

import pytest

import nested_pivot
from nested_pivot import exception
from nested_pivot import layouts
from nested_pivot.engine.allocations import parse
from nested_pivot.journal import Journal
from tests.unit import helpers as h

NUMA2 = layouts.numa([layouts.NumaCell(vcpu=8), layouts.NumaCell(vcpu=8)])
ROOT = h.uuid('cn1')


def test_preimage_then_result(tmp_path):
    tree, root = h.flat_node(inventory={'VCPU': {'total': 16}})
    allocs = h.allocations(h.consumer('a', {root: {'VCPU': 2}}),
                           h.consumer('b', {root: {'VCPU': 2}}))
    plan = nested_pivot.plan(tree, allocs, layout=NUMA2)
    journal = Journal(tmp_path / 'state')
    journal.record_preimage(plan, parse(allocs))
    journal.record_result(root, 'cn1', 'done', '2 consumers moved')
    entries = journal.entries(root)
    assert [e.kind for e in entries] == ['pre-image', 'result']
    pre = entries[0].body
    assert pre['uuid'] == root and set(pre['consumers']) == set(allocs)
    assert pre['consumers'][h.uuid('a')] == {
        'allocations': {root: {'resources': {'VCPU': 2}}},
        'project_id': h.uuid('project-a'), 'user_id': h.uuid('user-a'),
        'consumer_generation': 1, 'consumer_type': None}
    assert pre['tree'][0]['inventory']['VCPU']['total'] == 16
    assert len(pre['moves']) == 2
    assert journal.last_preimage(root) == entries[0]
    assert entries[1].body['outcome'] == 'done'
    # Whole files only: no temporary file is left behind.
    names = sorted(p.name for p in (tmp_path / 'state' / root).iterdir())
    assert names == ['.lock', '000000-pre-image.json', '000001-result.json']
    assert json.loads((tmp_path / 'state' / root / names[1]).read_text())


def test_entries_record_the_operation_version_and_user(tmp_path):
    journal = Journal(tmp_path)
    entry = journal.record_result(ROOT, 'cn1', 'done', operation='rollback')
    body = journal.entries(ROOT)[0].body
    assert entry.operation == 'rollback' == body['operation']
    assert body['user'] and body['version'] and body['node'] == 'cn1'


def test_unknown_node_has_no_entries(tmp_path):
    journal = Journal(tmp_path)
    assert journal.entries(h.uuid('nobody')) == []
    assert journal.last_preimage(h.uuid('nobody')) is None


@pytest.mark.parametrize('key', ['../../etc/x', '..', 'cn1', ''])
def test_only_provider_uuids_name_a_journal(tmp_path, key):
    journal = Journal(tmp_path / 'state')
    with pytest.raises(exception.JournalError, match='not a provider uuid'):
        journal.record_result(key, key, 'failed')
    assert not (tmp_path / 'state').exists()


def test_nodes_whose_names_sanitise_alike_do_not_share_a_journal(tmp_path):
    """'jc x' and 'jc_x' once shared a directory; a rollback of one then
    restored the other's records."""
    journal = Journal(tmp_path)
    for name in ('jc x', 'jc_x'):
        journal.record_result(h.uuid(name), name, 'done')
    assert [e.body['node'] for e in journal.entries(h.uuid('jc x'))] == \
        ['jc x']


def test_flat_records_are_the_roots_before_its_last_pivot(tmp_path):
    flat = {'VCPU': {'total': 16, 'reserved': 2}, 'DISK_GB': {'total': 9}}
    tree, root = h.flat_node(inventory=flat)
    allocs = h.allocations(h.consumer('a', {root: {'VCPU': 2}}))
    journal = Journal(tmp_path)
    assert journal.flat_records(root) is None
    plan = nested_pivot.reshape(tree, allocs, layout=NUMA2)
    journal.record_preimage(plan, parse(allocs))
    rollback = nested_pivot.plan(tree, allocs, layout=nested_pivot.Layout())
    journal.record_preimage(rollback, parse(allocs), operation='rollback')
    records = journal.flat_records(root)
    assert records is not None and set(records) == {'VCPU'}
    assert records['VCPU'].reserved == 2


def _write_many(state: str, label: str) -> None:
    journal = Journal(state)
    for i in range(25):
        journal.record_result(ROOT, 'cn1', f'{label}-{i}')


def test_two_writers_never_overwrite_each_other(tmp_path):
    context = multiprocessing.get_context('fork')
    writers = [context.Process(target=_write_many, args=(str(tmp_path), w))
               for w in ('a', 'b')]
    for w in writers:
        w.start()
    for w in writers:
        w.join(60)
        assert w.exitcode == 0
    outcomes = [e.body['outcome'] for e in Journal(tmp_path).entries(ROOT)]
    assert sorted(outcomes) == sorted(f'{w}-{i}' for w in 'ab'
                                      for i in range(25))
    # In order for each writer.
    for w in 'ab':
        mine = [o for o in outcomes if o.startswith(w)]
        assert mine == [f'{w}-{i}' for i in range(25)]


def test_directories_are_private_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        Journal(tmp_path / 'state').record_result(ROOT, 'cn1', 'done')
    finally:
        os.umask(old)
    for path in (tmp_path / 'state', tmp_path / 'state' / ROOT):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700


def test_a_symlinked_node_directory_is_refused(tmp_path):
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    (tmp_path / 'state').mkdir()
    (tmp_path / 'state' / ROOT).symlink_to(elsewhere)
    journal = Journal(tmp_path / 'state')
    with pytest.raises(exception.JournalError, match='symbolic link'):
        journal.entries(ROOT)
    with pytest.raises(exception.JournalError, match='symbolic link'):
        journal.record_result(ROOT, 'cn1', 'done')
    assert list(elsewhere.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root to chown')
def test_an_entry_of_another_user_is_refused(tmp_path):
    journal = Journal(tmp_path)
    entry = journal.record_result(ROOT, 'cn1', 'done')
    os.chown(entry.path, 4242, 4242)
    with pytest.raises(exception.JournalError, match='belongs to uid 4242'):
        journal.entries(ROOT)


@pytest.mark.parametrize('content,problem', [
    ('{"kind": "pre-', 'not a JSON document'),
    (b'\xff\xfe', 'not a JSON document'),
    ('[1, 2]', 'not a pre-image entry'),
    ('{"kind": "pre-image", "tree": [], "after": []}', 'one root'),
    ('{"kind": "pre-image", "tree": [{"parent": null}], "after": []}',
     'one root'),
    ('{"kind": "pre-image", "uuid": "other", "tree": []}', 'belongs to'),
])
def test_a_corrupt_entry_names_its_file(tmp_path, content, problem):
    journal = Journal(tmp_path)
    journal.record_result(ROOT, 'cn1', 'done')
    path = tmp_path / ROOT / '000001-pre-image.json'
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(exception.JournalError) as err:
        journal.flat_records(ROOT)
    assert str(path) in str(err.value) and problem in str(err.value)


def test_planted_records_are_validated_like_a_layout(tmp_path):
    journal = Journal(tmp_path)
    tree = [{'parent': None, 'inventory': {'VCPU': {'total': -5}}}]
    (tmp_path / ROOT).mkdir(mode=0o700)
    path = tmp_path / ROOT / '000000-pre-image.json'
    path.write_text(json.dumps({'kind': 'pre-image', 'uuid': ROOT,
                                'tree': tree, 'after': [{
                                    'parent': None, 'inventory': {}}]}))
    with pytest.raises(exception.JournalError, match='VCPU record'):
        journal.flat_records(ROOT)


def test_a_state_dir_that_is_a_file_fails_with_its_path(tmp_path):
    state = tmp_path / 'state'
    state.write_text('')
    with pytest.raises(exception.JournalError) as err:
        Journal(state).record_result(ROOT, 'cn1', 'done')
    assert str(state) in str(err.value)


def test_fifo_entries_are_refused(tmp_path):
    journal = Journal(tmp_path)
    journal.record_result(ROOT, 'cn1', 'done')
    os.mkfifo(tmp_path / ROOT / '000001-result.json')
    with pytest.raises(exception.JournalError, match='regular file'):
        journal.entries(ROOT)


def test_the_journal_is_keyed_by_uuid_only(tmp_path):
    assert Path(Journal(tmp_path).record_result(
        ROOT.upper(), 'cn1', 'done').path).parent.name == ROOT


def test_a_journal_kept_by_node_name_still_gives_flat_records(tmp_path):
    """nested_pivot 0.1 kept the journal in <state>/<sanitised name>/."""
    tree, root = h.flat_node(inventory={'VCPU': {'total': 16}})
    plan = nested_pivot.plan(tree, {}, layout=NUMA2)
    entry = Journal(tmp_path / 'new').record_preimage(plan, {})
    legacy = tmp_path / 'state' / 'cn1'
    legacy.mkdir(parents=True)
    body = {k: v for k, v in entry.body.items() if k != 'operation'}
    (legacy / '000000-pre-image.json').write_text(json.dumps(body))
    other = dict(body, uuid=h.uuid('another node named cn1'))
    (legacy / '000001-pre-image.json').write_text(json.dumps(other))
    journal = Journal(tmp_path / 'state')
    assert journal.flat_records(root) is None
    assert set(journal.flat_records(root, 'cn1')) == {'VCPU'}
    assert journal.flat_records(h.uuid('x'), 'cn1') is None


def test_a_sharing_target_is_not_journaled_as_the_nodes(tmp_path):
    tree, root = h.flat_node(inventory={'DISK_GB': {'total': 9}})
    tree.new_root('ssp', h.uuid('ssp'))
    tree.update_inventory('ssp', {'DISK_GB': {'total': 90}})
    tree.update_traits('ssp', ['MISC_SHARES_VIA_AGGREGATE'])
    plan = nested_pivot.plan(tree, {}, layout=nested_pivot.Layout(
        sharing={'DISK_GB': 'ssp'}), nodename='cn1')
    journal = Journal(tmp_path)
    journal.record_preimage(plan, {})
    assert [p['uuid'] for p in journal.entries(root)[0].body['tree']] == [
        root]
    assert set(journal.flat_records(root)) == {'DISK_GB'}
