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

"""Every cell, never a silent skip: two real cell databases and a real API
database, all made by nova's migrations (the API database's cell and host
mappings as nova-manage cell_v2 makes them), and real Placement holding
the nodes of both cells and one nova does not know.

``--config-file`` with ``[api_database]`` reads every cell; ``--cell``
limits the cells read; a node of Placement that the cells read do not
have is reported by check (exit 1), plan and apply with the option that
reads it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.nova_db import cells as nova
from tests.nova_db.cells import Cell
from tests.nova_db.test_from_nova import allocations
from tests.nova_db.test_from_nova import cli
from tests.nova_db.test_from_nova import flat_root
from tests.nova_db.test_from_nova import FLOATING
from tests.nova_db.test_from_nova import held
from tests.nova_db.test_from_nova import placement

PINNED = [Cell(1, pcpus=2, memory_mb=1024)]


class TwoCells:
    """c1-a in cell1, c2-a in cell2, each with a pinned and a floating
    instance; ghost in Placement only."""

    def __init__(self, tmp: Path) -> None:
        self.urls = {name: f'sqlite:///{tmp}/{name}.db'
                     for name in ('cell1', 'cell2')}
        self.placement_db = f'sqlite:///{tmp}/placement.db'
        self.api = f'sqlite:///{tmp}/api.db'
        self.consumers: dict[str, dict[str, Any]] = {}
        self.roots: dict[str, Any] = {}
        self.pinned: dict[str, str] = {}
        for cell, node in (('cell1', 'c1-a'), ('cell2', 'c2-a')):
            db = nova.NovaCell(self.urls[cell])
            host = db.node(node, [(4, 4, 8192), (4, 4, 8192)])
            self.roots[node] = flat_root(host)
            self.pinned[node] = db.instance(node, PINNED)
            self.consumers[self.pinned[node]] = {
                'node': node, 'resources': held(PINNED)}
            self.consumers[db.instance(node)] = {
                'node': node, 'resources': FLOATING}
        self.roots['ghost'] = flat_root(host)
        nova.api_database(self.api, self.urls,
                          hosts={'cell1': ['c1-a'], 'cell2': ['c2-a']})
        self.conf = tmp / 'nova.conf'
        self.conf.write_text(f'[api_database]\nconnection = {self.api}\n')
        self.one_cell = tmp / 'one-cell.conf'
        self.one_cell.write_text(
            f'[database]\nconnection = {self.urls["cell2"]}\n')
        spec: dict[str, Any] = {'nodes': {
            n: {'inventory': inv, 'consumers': {}}
            for n, inv in self.roots.items()}}
        for uuid, entry in self.consumers.items():
            spec['nodes'][entry['node']]['consumers'][uuid] = {
                'resources': entry['resources']}
        placement('seed', self.placement_db, spec)
        self.state = ['--state-dir', str(tmp / 'state')]

    def cli(self, *args: str, conf: Path | None = None) -> Any:
        return cli(*args, '--from-nova', '--config-file',
                   str(conf or self.conf), '--placement-db',
                   self.placement_db, *self.state)


@pytest.fixture
def fleet(tmp_path: Path) -> TwoCells:
    return TwoCells(tmp_path)


def _states(proc: Any) -> dict[str, str]:
    return {n['node']: n['state'] for n in json.loads(proc.stdout)['nodes']}


def test_cells_not_read_are_said_and_every_cell_is_read_by_default(fleet):
    """Fails when a node of a cell that was not read counts as nothing to
    do (exit 0, no word of it), when --config-file with [api_database]
    does not read every cell through the cell mappings, or when --cell
    does not narrow the nodes to those of its cell."""
    applied = fleet.cli('apply', '--all', '--yes', '--cell', 'cell1')
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert '1 done, 0 already pivoted, 0 failed' in applied.stdout
    assert 'c2-a' not in applied.stdout and 'ghost' not in applied.stdout

    checked = fleet.cli('check', '--json', '--cell', 'cell1')
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert _states(checked) == {'c1-a': 'pivoted'}
    assert json.loads(checked.stdout)['unread'] == {}

    planned = fleet.cli('plan', 'c2-a', '--cell', 'cell1')
    assert planned.returncode == 64, planned.stdout + planned.stderr
    assert 'c2-a: not in cell cell1; left out' in planned.stderr

    every = fleet.cli('apply', '--all', '--yes')
    assert every.returncode == 0, every.stdout + every.stderr
    assert '1 done, 1 already pivoted, 0 failed' in every.stdout
    assert 'in none of the nova cells read' not in every.stdout
    state = placement('dump', fleet.placement_db)
    for node, numa in (('c1-a', 'NUMA1'), ('c2-a', 'NUMA1')):
        assert allocations(state, fleet.pinned[node]) == {
            f'{node}_{numa}': {'PCPU': 2, 'MEMORY_MB': 1024},
            node: {'DISK_GB': 10}}
    assert state['providers']['ghost']['inventory'].keys() == \
        fleet.roots['ghost'].keys()  # left flat

    done = fleet.cli('check', '--json')
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)['unread'] == {}
    assert _states(done)['ghost'] == 'not_applicable'
    assert "has no compute node ghost: left as it is" in done.stderr

    one = fleet.cli('check', '--json', conf=fleet.one_cell)
    assert one.returncode == 1, one.stdout + one.stderr
    assert set(json.loads(one.stdout)['unread']) == {'c1-a', 'ghost'}
    assert ('setting [api_database] connection in the config file reads '
            'every cell') in json.loads(one.stdout)['unread']['c1-a']


def test_cells_that_cannot_be_read_are_one_line(tmp_path):
    """Fails when a cell named wrong, or --cell with one cell database,
    is anything but one clear error naming what reads the cells."""
    urls = {n: f'sqlite:///{tmp_path}/{n}.db' for n in ('cell1', 'cell2')}
    for url in urls.values():
        nova.migrate(url)
    nova.api_database(f'sqlite:///{tmp_path}/api.db', urls)
    conf = tmp_path / 'nova.conf'
    conf.write_text(f'[api_database]\nconnection = sqlite:///{tmp_path}'
                    '/api.db\n')
    for args, error in (
            (('--cell', 'nope', '--config-file', str(conf)),
             'maps no cell nope; its cells: cell1, cell2'),
            (('--nova-db', urls['cell1'], '--cell', 'cell1'),
             '--nova-db is one cell database')):
        proc = cli('discover', *args)
        assert proc.returncode == 255, proc.stdout + proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and error in lines[0], proc.stderr
