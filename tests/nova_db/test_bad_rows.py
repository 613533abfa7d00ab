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

"""Issue 22, item 16 (and item 3 for nova.conf's connections): nova's
facts with one bad row, a missing database file, a name in two cells.

Real nova cell databases made by nova's migrations, rows written through
nova's objects (one then corrupted in place, as a bad upgrade or a hand
edit leaves it), and the real console script against a real Placement
database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

from tests.nova_db import cells as nova
from tests.nova_db.cells import Cell
from tests.nova_db.test_bad_facts import _node
from tests.nova_db.test_from_nova import cli
from tests.nova_db.test_from_nova import flat_root
from tests.nova_db.test_from_nova import held
from tests.nova_db.test_from_nova import placement

TWO = [(4, 4, 8192), (4, 4, 8192)]
PINNED = [Cell(1, pcpus=2, memory_mb=1024)]


def _corrupt(connection: str, sql: str, **values: Any) -> None:
    """Change one row in place, as a bad upgrade or a hand edit does."""
    engine = sqlalchemy.create_engine(connection)
    try:
        with engine.begin() as conn:
            assert conn.execute(sqlalchemy.text(sql), values).rowcount == 1
    finally:
        engine.dispose()


def _spec(nodes: dict[str, Any], consumers: dict[str, str]
          ) -> dict[str, Any]:
    return {'nodes': {
        name: {'inventory': flat_root(node), 'consumers': {
            uuid: {'resources': held(PINNED)}
            for uuid, on in consumers.items() if on == name}}
        for name, node in nodes.items()}}


def test_one_unreadable_row_refuses_its_node_only(databases, tmp_path):
    """Fails when one corrupt numa_topology (a compute node's, an
    instance's) makes every --from-nova command fail for the whole fleet
    with a bare JSONDecodeError, instead of refusing that node, naming
    the row, and going on with the others."""
    nova_db, placement_db = databases('nova'), databases('placement')
    cell = nova.NovaCell(nova_db)
    nodes = {name: cell.node(name, TWO)
             for name in ('good-1', 'badhost-1', 'badinst-1')}
    consumers = {cell.instance(name, PINNED): name for name in nodes}
    bad_instance = next(u for u, n in consumers.items() if n == 'badinst-1')
    _corrupt(nova_db, 'UPDATE compute_nodes SET numa_topology = :bad '
                      'WHERE hypervisor_hostname = :name',
             bad='{"nova_object.name": "NUMATopology", ', name='badhost-1')
    _corrupt(nova_db, 'UPDATE instance_extra SET numa_topology = :bad '
                      'WHERE instance_uuid = :uuid', bad='not json',
             uuid=bad_instance)
    placement('seed', placement_db, _spec(nodes, consumers))
    before = placement('dump', placement_db)
    access = ['--nova-db', nova_db, '--placement-db', placement_db,
              '--state-dir', str(tmp_path / 'state')]

    run = cli('apply', '--all', '--yes', *access)
    assert run.returncode == 2, run.stdout + run.stderr
    assert 'nested-pivot: error' not in run.stderr  # not the fleet
    rows = {line.split()[0]: line for line in run.stdout.splitlines()
            if line[:1].isalpha() and '-1' in line.split()[0]}
    assert ' done ' in rows['good-1'] + ' '
    text = ' '.join(run.stdout.split())
    compute_id = nodes['badhost-1'].compute.id
    assert (f'node badhost-1: its compute_nodes row (id {compute_id}) holds '
            f'a numa_topology that nova cannot read') in text
    assert (f'node badinst-1: the instance_extra row of instance '
            f'{bad_instance} holds a numa_topology that nova cannot '
            f'read') in text
    after = placement('dump', placement_db)
    for name in ('badhost-1', 'badinst-1'):
        assert _node(after, name) == _node(before, name)
    assert 'good-1_NUMA1' in after['providers']
    checked = cli('check', *access)
    assert checked.returncode == 2
    assert 'cannot_pivot' in checked.stdout


def test_a_missing_nova_database_file_is_refused(tmp_path):
    """Fails when --nova-db sqlite:///<missing file> creates an empty
    file, then fails, instead of refusing the missing file as
    --placement-db does."""
    missing = tmp_path / 'nova.db'
    proc = cli('discover', '--nova-db', f'sqlite:///{missing}')
    assert proc.returncode == 255, proc.stdout + proc.stderr
    assert f'--nova-db sqlite:///{missing}: no such SQLite database ' \
        f'file {missing}' in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not missing.exists()


def test_a_name_in_two_cells_says_so(tmp_path):
    """Fails when a node name found in two cells is refused with a reason
    that contradicts itself ("... but nova's cell database puts it on
    node dup-1") instead of saying the name is in two cells and which
    cell's facts were used."""
    first = nova.NovaCell(f'sqlite:///{tmp_path}/cell1.db')
    second = nova.NovaCell(f'sqlite:///{tmp_path}/cell2.db')
    nodes = {'dup-1': first.node('dup-1', TWO)}
    one = first.instance('dup-1', PINNED)
    second.node('dup-1', TWO)
    other = second.instance('dup-1', PINNED)
    api = f'sqlite:///{tmp_path}/api.db'
    nova.api_database(api, {'cell1': first.connection,
                            'cell2': second.connection})
    conf = tmp_path / 'nova.conf'
    conf.write_text(f'[api_database]\nconnection = {api}\n')
    placement_db = f'sqlite:///{tmp_path}/placement.db'
    placement('seed', placement_db,
              _spec(nodes, {one: 'dup-1', other: 'dup-1'}))
    proc = cli('check', '--all-cells', '--config-file', str(conf),
               '--placement-db', placement_db)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    stderr = ' '.join(proc.stderr.split())
    assert ('warning: node dup-1: the name is in nova cells cell1 and '
            'cell2: the facts of cell cell1 were used') in stderr
    assert (f'consumer {other} holds DISK_GB=10 MEMORY_MB=1024 PCPU=2 on '
            f'the node, and nova puts it on a node of this name in another '
            f'cell: the name dup-1 is in nova cells cell1 and cell2, and '
            f'the facts of cell cell1 were used') in stderr
    assert 'puts it on node dup-1' not in stderr


SECRET = 'S3cr3t'


MASKED = [
    ('database', f'mysql+pymysql://nova:{SECRET}@127.0.0.1:9/nova'),
    ('database', f'mysql+pymysql://nova:pa ss {SECRET}@127.0.0.1:9/nova'),
    ('database', f'mysql+pymysql://nova@127.0.0.1:9/nova?password={SECRET}'),
    ('database', f'mysql+pymysql://nova:p@ss{SECRET}@127.0.0.1:9/nova'),
    ('api_database', f'mysql+pymysql://nova:{SECRET}@127.0.0.1:9/nova_api'),
    ('api_database',
     f'mysql+pymysql://nova:{SECRET}%2F@127.0.0.1:9/nova_api'),
]


@pytest.mark.parametrize('group,connection', MASKED)
def test_nova_conf_connections_are_masked(tmp_path: Path, group: str,
                                          connection: str) -> None:
    """Fails when a password of nova.conf's [database] or [api_database]
    connection shows in any error, under --debug or --json included."""
    conf = tmp_path / 'nova.conf'
    # One connection attempt, not oslo.db's ten 10 s apart.
    conf.write_text(f'[{group}]\nconnection = {connection}\n'
                    f'max_retries = 1\nretry_interval = 0\n')
    extra = ['--all-cells'] if group == 'api_database' else []
    # nova takes seconds to import: --debug and --json once only.
    every = ((), ('--debug',), ('--json',))
    for flags in every if (group, connection) == MASKED[0] else ((),):
        proc = cli('discover', *extra, '--config-file', str(conf), *flags)
        assert proc.returncode == 255, proc.stdout + proc.stderr
        assert SECRET not in proc.stdout + proc.stderr, flags
        assert '***' in proc.stdout + proc.stderr
    if 'p@ss' in connection:
        assert 'percent-encode it as %40' in proc.stderr
