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

"""Selecting nodes by nova's cells and host aggregates, and nova's
warnings and refusals in the JSON documents: two real cell databases and
a real API database (nova's migrations, rows through nova's objects) on
each backend, a real Placement holding the matching flat nodes, and the
real console script."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
import json
import os
from pathlib import Path
import subprocess
import sys
from typing import Any

import pytest

from tests.nova_db import cells as nova
from tests.nova_db.cells import Cell
from tests.nova_db.conftest import BACKENDS
from tests.nova_db.conftest import database_maker
from tests.nova_db.conftest import drop
from tests.nova_db.test_bad_facts import BadFleet
from tests.nova_db.test_bad_facts import REASONS
from tests.nova_db.test_from_nova import cli
from tests.nova_db.test_from_nova import flat_root
from tests.nova_db.test_from_nova import FLOATING
from tests.nova_db.test_from_nova import held
from tests.nova_db.test_from_nova import placement
from tests.nova_db.test_from_nova import ROOT

USAGE = 64
FAST = '3c1d9e5a-7b2f-4e8d-9a6c-1f0e2d3c4b5a'
"""The host aggregate "fast": cell2's b-1 and cell1's good-1."""


class TwoCells:
    """cell1: the bad fleet (good-1, wrong-1, wrong-2, contra-1, cell-1;
    ghost-1 in Placement only), c-1 and c-2; cell2: b-1 and b-2.  Each
    node of the b and c kind has a pinned and a floating instance."""

    def __init__(self, make: Callable[[str], str], tmp: Path) -> None:
        self.cell1 = nova.NovaCell(make('cell1'))
        self.bad = BadFleet(self.cell1)
        self.cell2 = nova.NovaCell(make('cell2'))
        self.spec = self.bad.spec()
        for cell, name in ((self.cell2, 'b-1'), (self.cell2, 'b-2'),
                           (self.cell1, 'c-1'), (self.cell1, 'c-2')):
            self._node(cell, name)
        for name in ('b-1', 'good-1'):
            self.spec['nodes'][name]['aggregates'] = [FAST]
        self.placement_db = make('placement')
        placement('seed', self.placement_db, self.spec)
        api = make('api')
        self.cells = nova.api_database(
            api, {'cell1': self.cell1.connection,
                  'cell2': self.cell2.connection}, aggregates={'fast': FAST})
        self.conf = tmp / 'nova.conf'
        self.conf.write_text(f'[api_database]\nconnection = {api}\n')
        self.access = ['--config-file', str(self.conf), '--placement-db',
                       self.placement_db, '--state-dir', str(tmp / 'state')]

    def _node(self, cell: nova.NovaCell, name: str) -> None:
        pinned = [Cell(0, pcpus=2, memory_mb=1024)]
        node = cell.node(name, [(4, 4, 8192), (4, 4, 8192)])
        consumers = {cell.instance(name, pinned): {'resources': held(pinned)},
                     cell.instance(name, None): {'resources': FLOATING}}
        self.spec['nodes'][name] = {'inventory': flat_root(node),
                                    'consumers': consumers}

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return cli(*args, *self.access)

    def json(self, *args: str, code: int) -> dict[str, Any]:
        proc = self.run(*args, '--json')
        assert proc.returncode == code, proc.stdout + proc.stderr
        found: dict[str, Any] = json.loads(proc.stdout)
        assert found['exit'] == code
        return found

    def states(self) -> dict[str, str]:
        found = self.json('check', '--all-cells', code=2)
        return {n['node']: n['state'] for n in found['nodes']}


@pytest.fixture(scope='module', params=BACKENDS)
def two_cells(request: pytest.FixtureRequest,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoCells]:
    """The two cells on each backend, once per module: each test works on
    nodes of its own, and compares states before and after."""
    backend = request.param
    tmp = tmp_path_factory.mktemp(f'two-cells-{backend}')
    made: list[str] = []
    try:
        yield TwoCells(database_maker(backend, tmp, made), tmp)
    finally:
        drop(made)


def test_cell_and_aggregate_select_nodes_from_nova(two_cells):
    """Fails when --cell does not select exactly the nodes of nova's cell
    (by name or by its mapping's uuid), when --aggregate by name does not
    find nova's host aggregate in its API database, or when a pivot so
    narrowed touches another node."""
    f = two_cells
    before = f.states()
    by_name = f.json('check', '--cell', 'cell2', code=1)
    assert [n['node'] for n in by_name['nodes']] == ['b-1', 'b-2']
    by_uuid = f.json('plan', '--cell', f.cells['cell2'], code=0)
    assert [n['node'] for n in by_uuid['nodes']] == ['b-1', 'b-2']
    fast = f.json('check', '--all-cells', '--aggregate', 'fast', code=1)
    assert [n['node'] for n in fast['nodes']] == ['b-1', 'good-1']
    assert fast['refused'] == {}  # the others' refusals are not read

    applied = f.run('apply', '--cell', 'cell2', '--yes')
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert '2 done, 0 already pivoted, 0 failed' in applied.stdout
    after = f.states()
    assert {n: s for n, s in after.items() if s != before[n]} == {
        'b-1': 'pivoted', 'b-2': 'pivoted'}
    both = f.json('rollback', 'b-*', '--cell', 'cell2', '--aggregate',
                  FAST, '--yes', code=0)
    assert [(n['node'], n['result']) for n in both['nodes']] == [
        ('b-1', 'rolled back to flat')]
    assert f.states() == dict(after, **{'b-1': 'flat'})


@pytest.mark.parametrize('args,words', [
    (('check', '--cell', 'nosuch'), "nova has no cell 'nosuch'; its cells: "),
    (('check', '--all-cells', '--aggregate', 'slow'),
     "nova has no host aggregate named 'slow' (it has: fast)"),
    (('apply', '--cell', 'cell1', '--nova-db', 'sqlite://', '--yes'),
     '--nova-db names one cell database'),
    (('plan', 'b-1', '--from-nova', '--layouts', 'layouts.yaml'),
     '--from-nova builds every node\'s layout from nova\'s facts and would '
     'ignore --layouts layouts.yaml'),
])
def test_a_selection_nova_cannot_make_is_a_usage_error(two_cells, args,
                                                        words):
    f = two_cells
    proc = f.run(*args)
    assert proc.returncode == USAGE, proc.stdout + proc.stderr
    assert words in ' '.join(proc.stderr.split())
    assert 'Traceback' not in proc.stderr


def test_novas_warnings_and_refusals_are_in_the_documents(two_cells):
    """Fails when nova's refusals and warnings are on stderr only, not in
    the --json documents of check, plan and apply."""
    f = two_cells
    checked = f.json('check', '--all-cells', code=2)
    assert set(checked['refused']) == set(REASONS)
    for node, reason in REASONS.items():
        assert reason in ' '.join(checked['refused'][node].split())
    assert any('has no compute node ghost-1' in w
               for w in checked['warnings'])
    planned = f.json('plan', 'contra-1', '--all-cells', code=2)
    assert set(planned['refused']) == {'contra-1'}
    assert planned['nodes'][0]['state'] == 'cannot_pivot'
    applied = f.json('apply', 'wrong-1', 'c-1', '--all-cells', '--yes',
                     code=2)
    assert set(applied['refused']) == {'wrong-1'}
    assert [(n['node'], n['result']) for n in applied['nodes']] == [
        ('wrong-1', 'failed'), ('c-1', 'done')]


def test_request_refuses_a_node_novas_facts_refuse(two_cells):
    """Fails when a node whose facts refuse its pivot is requested."""
    f = two_cells
    proc = f.run('request', 'contra-1', 'c-2', '--all-cells')
    assert proc.returncode == 2, proc.stdout + proc.stderr
    said = ' '.join(proc.stdout.split())
    assert 'contra-1: cannot be pivoted, so not requested' in said
    assert REASONS['contra-1'] in said
    assert 'c-2: pivot requested' in said
    states = f.states()
    assert (states['contra-1'], states['c-2']) == ('cannot_pivot',
                                                   'requested')


def test_layouts_from_the_environment_are_said_to_be_ignored(two_cells):
    """Fails when $NESTED_PIVOT_LAYOUTS is silently ignored with nova's
    facts."""
    f = two_cells
    proc = subprocess.run(
        [str(Path(sys.executable).with_name('nested-pivot')), 'check',
         '--cell', 'cell2', '--json', *f.access], capture_output=True,
        text=True, timeout=600, stdin=subprocess.DEVNULL, cwd=ROOT,
        check=False, env=dict(os.environ,
                              NESTED_PIVOT_LAYOUTS='/etc/np/layouts.yaml'))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    warning = ("$NESTED_PIVOT_LAYOUTS (/etc/np/layouts.yaml) is not read: "
               "the layouts come from nova's facts")
    assert warning in json.loads(proc.stdout)['warnings']
    assert warning in proc.stderr
