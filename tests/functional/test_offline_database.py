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

"""The offline database layer against Placement's own API.

On SQLite, PostgreSQL and MariaDB: the bulk reads equal the API reads
(``tests/functional/bulk.py`` runs each in a process of its own), and
Placement's reshaper called in process answers every refused body as
``POST /reshaper`` does and leaves what it leaves.  Then the pivot tests
of ``test_pivot``, ``test_reshapes`` and ``test_ownership`` run again,
unchanged, with the client reading and reshaping through the database
(in process, on SQLite).
"""

from __future__ import annotations

from collections.abc import Iterator
import inspect
import json
from pathlib import Path
import subprocess
import sys
from typing import Any
import uuid as uuidlib

import pytest

import nested_pivot
from nested_pivot.placement import database
from nested_pivot.placement import PlacementClient
from tests.functional import harness
from tests.functional import seed
from tests.functional import test_ownership
from tests.functional import test_pivot
from tests.functional import test_reshapes
from tests.functional.test_cli_workers import left_behind

ROOT = Path(__file__).resolve().parents[2]
DATABASES = ('sqlite', *harness.BACKENDS)


@pytest.fixture(params=DATABASES)
def empty_database(request: pytest.FixtureRequest, placement_servers: Any,
                   tmp_path: Path) -> Iterator[str]:
    """A Placement database of its own: a SQLite file, or a database on
    each real server's PostgreSQL or MariaDB."""
    if request.param == 'sqlite':
        yield f'sqlite:///{tmp_path}/placement.db'
        return
    with harness.server_database(placement_servers, request.param,
                                 'np_bulk') as url:
        yield url


def compare(mode: str, url: str, *more: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, '-m', 'tests.functional.bulk', mode, url, *more],
        capture_output=True, text=True, cwd=ROOT, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


@pytest.mark.every_backend(
    "the offline reads' SQL, in the database's dialect")
def test_bulk_reads_equal_the_api_reads(empty_database):
    doc = compare('reads', empty_database)
    assert doc['roots']['bulk'] == doc['roots']['api']
    assert len(doc['roots']['api']) >= 10
    for root, node in doc['nodes'].items():
        assert node['bulk'] == node['api'], root
    assert doc['batch']['bulk'] == doc['batch']['api']
    # One batch of queries for every node, plus finding each by uuid.
    assert doc['batch']['queries'] <= 5 + len(doc['roots']['api'])
    for root, found in doc['generations'].items():
        assert found['bulk'] == found['api'], root
    for provider, found in doc['aggregates'].items():
        assert found['bulk'] == found['api'], provider
    for ref, found in doc['find'].items():
        assert found['bulk'] == found['api'], ref
    # The reads' transaction refuses a write.
    assert doc['read_only'] != 'written'
    assert 'read' in doc['read_only'].lower(), doc['read_only']
    # The scene has what the reads must get right.
    nodes = [n['api'] for n in doc['nodes'].values()]
    records = [r for n in nodes for r in n['records'].values()]
    assert {r['consumer_type'] for r in records} >= {
        'INSTANCE', 'MIGRATION', 'unknown'}
    assert sum(doc['migration'] in n['records'] for n in nodes) == 2
    assert any(len(n['providers']) == 3 for n in nodes)  # pivoted
    assert any(len(r['allocations']) == 2 for r in records)  # shared disk
    assert all(len(n['sharing']) == 2 for n in nodes)
    assert any(found['api'] for found in doc['aggregates'].values())
    assert any('not a compute node but a child' in str(found['api'])
               for found in doc['find'].values())


@pytest.mark.every_backend(
    "the offline writes' SQL, in the database's dialect")
def test_reshaper_in_process_answers_as_the_api(empty_database):
    doc = compare('answers', empty_database)
    assert len(doc['refused']) == 9
    for case, found in doc['refused'].items():
        assert found['database'] == found['api'], case
        assert found['api']['status'] in (400, 409), case
        assert found['unchanged'] == [True, True], case
    done = doc['done']
    assert done['database']['status'] == done['api']['status'] == 204
    assert done['database']['state'] == done['api']['state']


# -- the pivot tests, through the database ---------------------------------
API_ONLY = {
    # Counts the requests per consumer and their microversion, which the
    # database layer does not send: see test_offline_pivots_send_no_
    # request_per_consumer below.
    'test_pivot_reads_and_reshapes_below_consumer_types',
}


def _inherited() -> dict[str, Any]:
    found = {}
    for module in (test_pivot, test_reshapes, test_ownership):
        for name, test in vars(module).items():
            if (name.startswith('test_') and name not in API_ONLY
                    and 'placement' in inspect.signature(test).parameters):
                found[name] = test
    return found


globals().update(_inherited())


@pytest.fixture
def placement(direct):
    """Placement in process, on this process's SQLite database."""
    return direct


def _with_database(adapter: Any) -> PlacementClient:
    return PlacementClient(adapter, backoff=0.01, database=database_here())


_DATABASE: list[database.PlacementDatabase] = []


def database_here() -> database.PlacementDatabase:
    """The database layer over this process's SQLite database."""
    if not _DATABASE:
        _DATABASE.append(database.PlacementDatabase(
            harness._process_database()))
    return _DATABASE[0]


@pytest.fixture(autouse=True)
def through_the_database(monkeypatch):
    """The inherited tests' client reads and reshapes through the
    database (their helper, not Placement, is replaced)."""
    for module in (test_pivot, test_reshapes, test_ownership):
        monkeypatch.setattr(module, 'client_for', _with_database)


def counted(adapter: Any) -> list[str]:
    """The method and path of every request ``adapter`` sends; it only
    looks."""
    sent: list[str] = []
    inner = adapter.request

    def request(url: str, method: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(f'{method} {url}')
        return inner(url, method, *args, **kwargs)

    adapter.request = request
    return sent


def test_offline_pivots_send_no_request_per_consumer(placement):
    """Every consumer moves; the requests are the same for 4 and for 40,
    and none of them reads a consumer or posts the reshape."""
    sent_per_size = []
    for count in (4, 40):
        name, root, vms = test_pivot.two_socket_host(placement, count)
        before = seed.totals(placement, vms)
        sent = counted(placement)
        result = nested_pivot.pivot(_with_database(placement), name,
                                    test_pivot.TWO_SOCKETS)
        del placement.request  # counted() only looked
        assert result.applied and len(result.plan.consumers) == count
        seed.assert_pivoted(placement, root, name, test_pivot.TWO_SOCKETS,
                            before)
        assert not [s for s in sent if s.startswith(('GET /allocations/',
                                                     'POST /reshaper'))]
        sent_per_size.append(len(sent))
    assert sent_per_size[0] == sent_per_size[1]


def test_a_concurrent_write_is_reread_and_replanned(placement):
    """A claim lands between the read and the reshape: Placement's
    reshaper refuses the stale generation, the node is read again,
    planned again, and the pivot holds the newcomer too."""
    name, root, _ = test_pivot.two_socket_host(placement, 3)
    newcomer = str(uuidlib.uuid4())

    def claim(state: Any, plan: Any) -> None:
        if newcomer not in state.records:
            seed.allocate(placement, newcomer, {root: {'VCPU': 1}})

    result = nested_pivot.pivot(_with_database(placement), name,
                                test_pivot.TWO_SOCKETS, before_reshape=claim)
    assert result.applied and result.retries == 1
    assert newcomer in result.plan.consumers
    where = seed.allocations(placement, newcomer)['allocations']
    assert root not in where and sum(
        e['resources'].get('VCPU', 0) for e in where.values()) == 1


@pytest.fixture
def mariadb_database(placement_servers: Any) -> Iterator[str]:
    """An empty Placement database on the real MariaDB server."""
    with harness.server_database(placement_servers, 'mariadb',
                                 'np_deadlock') as url:
        yield url


@pytest.mark.parametrize('way', ['database', 'api', 'journaled'])
def test_a_reshape_picked_as_a_deadlock_victim_is_redone_whole(
        mariadb_database, way):
    """Fails when a pivot lets Placement's retry of the allocation writes
    alone, after InnoDB rolled the reshape back for a deadlock, fail the
    node: that retry runs without the interim inventories, and Placement
    answers 409 "Unable to allocate inventory: Inventory for ... invalid"
    (as under worker processes in CI), where it is a conflict to redo
    whole.  Through the database layer, the reshape is rolled back even
    when that retry succeeds.  InnoDB only: its gap locks make the
    deadlock; PostgreSQL has none.  Journaled, as the CLI pivots: one
    pre-image per attempt, the second reading what the first did but for
    the empty children made before the reshape, then one result."""
    doc = compare('deadlock', mariadb_database, way)
    entries = doc['outcome'].pop('journal', None)
    assert doc['fired'] and len(doc['victims']) == 1, doc['victims']
    assert '1213' in doc['victims'][0]
    assert doc['outcome'] == {'applied': True, 'retries': 1}
    assert len(doc['why']) == 1
    assert ('redid in part after a database deadlock' if way == 'api'
            else 'rolled back by the database') in doc['why'][0]
    assert doc['after'] == doc['before']
    assert doc['children'] == 2
    assert doc['on_root'] == ['DISK_GB']
    if way == 'journaled':
        assert [kind for kind, _ in entries] == \
            ['pre-image', 'pre-image', 'result']
        first, again, result = (body for _, body in entries)
        assert len(again['tree']) == len(first['tree']) + 2
        assert left_behind(first, again) == set()
        assert result['outcome'] == 'done'
