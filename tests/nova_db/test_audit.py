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

"""``nested-pivot audit`` offline, end to end: a real nova cell database
(nova's migrations, rows through nova's objects) and a real Placement
database, on SQLite, PostgreSQL and MariaDB; the console script in a
subprocess.  The fleet (``audit_fleet``) is pivoted from nova's facts
first, so the leaks sit on the children nested_pivot made."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from typing import Any

import pytest

from tests.nova_db import audit_fleet
from tests.nova_db import cells as nova
from tests.nova_db.audit_fleet import BW
from tests.nova_db.audit_fleet import Fleet
from tests.nova_db.test_from_nova import cli
from tests.nova_db.test_from_nova import placement
from tests.nova_db.test_from_nova import ROOT


def fleet_stage(stage: str, url: str, document: str, *more: str) -> Any:
    """One stage of ``audit_fleet`` in a process of its own (Placement
    and nova's API database configure one database per process)."""
    proc = subprocess.run(
        [sys.executable, '-m', 'tests.nova_db.audit_fleet', stage, url,
         *more], input=document, text=True,
        capture_output=True, cwd=ROOT, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@dataclasses.dataclass
class Audited:
    who: Fleet
    cell: nova.NovaCell
    access: list[str]
    url: str


@pytest.fixture
def audited(databases: Any, tmp_path: Any) -> Audited:
    """The fleet pivoted from nova's facts, then the leaks written."""
    nova_db, placement_db = databases('nova'), databases('placement')
    cell = nova.NovaCell(nova_db)
    who = audit_fleet.nova_side(cell)
    fleet_stage('before', placement_db, who.document())
    access = ['--nova-db', nova_db, '--placement-db', placement_db]
    applied = cli('apply', '--all', '--yes', *access, '--state-dir',
                  str(tmp_path / 'state'))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    cell.delete(who.deleted)
    audit_fleet.unshelving(cell, who.busy)
    fleet_stage('after', placement_db, who.document())
    return Audited(who, cell, access, placement_db)


def _by_name(state: dict[str, Any], consumer: str) -> dict[str, Any]:
    return state['consumers'][consumer]['allocations']


def _findings(document: dict[str, Any], node: str) -> dict[str, Any]:
    entry = next(n for n in document['nodes'] if n['node'] == node)
    return {f['consumer']: f for f in entry['findings']}


def test_audit_lists_what_nova_does_not_account_for(audited):
    """Fails when a consumer that is not a live instance of the node nor
    part of a move in progress there goes unlisted, or a live instance or
    a migration's consumer is listed, or nova's word on one is wrong, or
    the audit changes anything."""
    who, access = audited.who, audited.access
    before = placement('dump', audited.url)
    run = cli('audit', '--all', '--json', *access)
    assert run.returncode == 1, run.stdout + run.stderr
    document = json.loads(run.stdout)
    found = _findings(document, 'aud-a')
    assert set(found) == {who.deleted, who.unknown, who.foreign_only,
                          who.elsewhere, who.busy}
    states = {c: (f['state'], f['fixable']) for c, f in found.items()}
    assert states == {who.deleted: ('deleted', True),
                      who.unknown: ('unknown', True),  # offline
                      who.foreign_only: ('unknown', False),
                      who.elsewhere: ('elsewhere', True),
                      who.busy: ('busy', False)}
    assert 'host aud-b' in found[who.elsewhere]['nova']
    assert 'task spawning' in found[who.busy]['nova']
    assert 'only on providers nested_pivot does not own' in \
        found[who.foreign_only]['why_not']
    providers = next(n for n in document['nodes']
                     if n['node'] == 'aud-a')['providers']
    names = dict(providers)
    deleted = {names[p]: r for p, r in found[who.deleted]['held'].items()}
    assert set(deleted) == {'aud-a_NUMA0', who.neutron_name} or \
        set(deleted) == {'aud-a_NUMA1', who.neutron_name}
    assert {names[p] for p in found[who.deleted]['removable']} == \
        set(deleted) - {who.neutron_name}
    assert {names[p] for p in found[who.unknown]['removable']} == {
        'aud-a', 'aud-a_NUMA0'}
    strays = next(n for n in document['nodes']
                  if n['node'] == 'aud-a')['strays']
    assert [(names[s['provider']], s['consumer'], s['resource_class'],
             s['amount']) for s in strays] == [
        ('aud-a', who.live, 'VCPU', 1)]
    assert _findings(document, 'aud-b') == {}
    assert document['findings'] == 5 and document['strays'] == 1

    text = cli('audit', 'aud-a', 'aud-b', *access)
    assert text.returncode == 1, text.stdout + text.stderr
    out = ' '.join(text.stdout.split())
    assert '5 consumers nova does not account for, 1 amount held ' \
        'without inventory' in out
    assert 'aud-b (' in out and ': clean' in out
    assert 'nested-pivot audit aud-a --fix' in out
    assert placement('dump', audited.url) == before


def test_audit_fix_removes_exactly_the_findings(audited):
    """Fails when --fix removes anything but the fixable findings'
    allocations on the node's root and nested_pivot's children (a live
    instance's, a migration's, a busy instance's, a foreign provider's,
    a sharing provider's, another node's), or leaves one of those
    allocations behind, or writes without --yes."""
    who, access = audited.who, audited.access
    before = placement('dump', audited.url)
    refused = cli('audit', '--all', '--fix', *access)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert 'Remove the allocations of 3 consumers on aud-a (offline' in \
        refused.stderr
    assert placement('dump', audited.url) == before

    run = cli('audit', '--all', '--fix', '--yes', '--json', *access)
    assert run.returncode == 1, run.stdout + run.stderr
    document = json.loads(run.stdout)
    fixes = {c: f['fix'] for c, f in _findings(document, 'aud-a').items()}
    assert {c: f['result'] for c, f in fixes.items()} == {
        who.deleted: 'removed', who.unknown: 'removed',
        who.elsewhere: 'removed', who.foreign_only: 'left alone',
        who.busy: 'left alone'}
    assert document['fixed'] == {'removed': 3, 'gone': 0,
                                 'left alone': 2, 'failed': 0}

    after = placement('dump', audited.url)
    assert _by_name(after, who.deleted) == {
        who.share_name: {'DISK_GB': 10}, who.neutron_name: {BW: 1000}}
    assert who.unknown not in after['consumers']
    elsewhere = _by_name(after, who.elsewhere)
    assert set(elsewhere) == {'aud-b', 'aud-b_NUMA0'} or \
        set(elsewhere) == {'aud-b', 'aud-b_NUMA1'}
    assert elsewhere == {p: r for p, r in _by_name(
        before, who.elsewhere).items() if p.startswith('aud-b')}
    for untouched in (who.live, who.moved, who.mig, who.busy,
                      who.foreign_only):
        assert after['consumers'][untouched] == \
            before['consumers'][untouched], untouched
    assert after['providers'] == before['providers']

    again = cli('audit', '--all', '--json', *access)
    assert again.returncode == 1, again.stdout + again.stderr
    left = _findings(json.loads(again.stdout), 'aud-a')
    assert set(left) == {who.deleted, who.foreign_only, who.busy}
    assert not any(f['fixable'] for f in left.values())
