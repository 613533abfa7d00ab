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

"""The console script as an attacker and a careless operator would use it,
against a real Placement (offline on SQLite, online on the server): bad
input gets a clear error and changes nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path
import subprocess
import threading

import pytest

import nested_pivot
from nested_pivot.placement import PlacementClient
from tests.functional import fleet
from tests.functional import harness
from tests.functional import seed
from tests.functional.test_cli import cli
from tests.functional.test_cli import Fleet
from tests.functional.test_cli import one_line_error
from tests.functional.test_cli import SCRIPT
from tests.functional.test_cli import seed_offline
from tests.functional.test_cli import sqlite_url
from tests.functional.test_faults import _reshapes
from tests.functional.test_faults import other_writer_first
from tests.functional.test_pivot import two_socket_host
from tests.functional.test_pivot import TWO_SOCKETS

USAGE = 64


@pytest.fixture(scope='module')
def small(tmp_path_factory) -> Fleet:
    """A fleet of 4 (numa, sriov, gpu, plain) plus special nodes."""
    tmp = tmp_path_factory.mktemp('small')
    url = seed_offline(sqlite_url(tmp / 'p.db'), 'h', 4, 'ratios=h-ratios-000',
                       'numa=jc x', 'numa=jc_x', 'numa=..',
                       'tight=h-tight-000')
    f = Fleet(tmp, 'h', ['--placement-db', url])
    f.layouts.write_text(fleet.layouts('h') + JC_RULES)
    return f


JC_RULES = """\
  - match: "jc*"
    children:
      - name: N0
        inventory: {VCPU: {total: 16, allocation_ratio: 2.0},
                    MEMORY_MB: {total: 16384, reserved: 256}}
      - name: N1
        inventory: {VCPU: {total: 16, allocation_ratio: 2.0},
                    MEMORY_MB: {total: 16384, reserved: 256}}
  - match: ".."
    children:
      - name: N0
        inventory: {VCPU: 32, MEMORY_MB: 32768}
"""


def _states(f: Fleet) -> dict[str, str]:
    proc = f.run('check', '--json')
    return {n['node']: n['state'] for n in json.loads(proc.stdout)['nodes']}


# -- issue 12, items 1-6, through the console script ------------------------

@pytest.mark.parametrize('args', [
    ('rollback', '', '--yes'), ('apply', '', '--yes'), ('plan', ' '),
    ('status', ''), ('request', '\t'), ('rollback', 'x' * 201, '--yes')])
def test_an_empty_node_name_is_a_usage_error(small, args):
    before = _states(small)
    proc = small.run(*args)
    assert proc.returncode == USAGE, proc.stdout + proc.stderr
    assert 'invalid node name' in proc.stderr.lower()
    assert 'Traceback' not in proc.stderr
    assert _states(small) == before


def test_cells_of_different_ratios_apply_and_roll_back(small):
    node = 'h-ratios-000'
    assert small.run('apply', node, '--yes').returncode == 0
    assert _states(small)[node] == 'pivoted'
    back = small.run('rollback', node, '--yes')
    assert back.returncode == 0, back.stdout + back.stderr
    assert 'rolled back to flat' in back.stdout
    assert 'do not fit' not in back.stdout
    plan = json.loads(small.run('plan', node, '--json').stdout)['nodes'][0]
    root = next(p for p in plan['before'] if p['parent'] is None)
    assert root['inventory']['VCPU']['allocation_ratio'] == 2.0
    assert root['inventory']['VCPU']['reserved'] == 1


def test_nodes_named_alike_keep_their_own_journal(small):
    for node in ('jc x', 'jc_x', '..'):
        assert small.run('apply', node, '--yes').returncode == 0
    assert small.run('rollback', 'jc x', '--yes').returncode == 0
    states = _states(small)
    assert states['jc x'] == 'flat' and states['jc_x'] == 'pivoted'
    status = json.loads(small.run('status', 'jc x', '--json').stdout)
    assert {e['node'] for e in status['journal']} == {'jc x'}
    state_dir = small.state.resolve()
    dot_dot = json.loads(small.run('status', '..', '--json').stdout)
    assert (state_dir / dot_dot['uuid']).is_dir()
    for path in state_dir.rglob('*'):
        assert state_dir in path.resolve().parents


def test_a_rule_without_children_is_an_error(tmp_path, small):
    layouts = tmp_path / 'l.yaml'
    layouts.write_text('layouts:\n  - match: "h-*"\n')
    proc = cli('apply', '--all', '--yes', *small.access, '--layouts',
               str(layouts), '--state-dir', str(tmp_path / 's'))
    one_line_error(proc)
    assert str(layouts) in proc.stderr and 'children: []' in proc.stderr


@pytest.mark.parametrize('debug', [(), ('--debug',)])
def test_the_database_password_is_never_printed(small, debug):
    url = 'postgresql+psycopg2://placement:S3cr3t@127.0.0.1:9/none'
    proc = cli('check', *debug, '--placement-db', url, '--layouts',
               str(small.layouts))
    assert proc.returncode == 255
    assert 'S3cr3t' not in proc.stdout + proc.stderr
    assert 'placement:***@127.0.0.1' in proc.stderr


def test_a_missing_database_driver_is_named(small):
    """A URL whose driver is not installed says which package to
    install, in one line."""
    proc = cli('check', '--placement-db',
               'mysql+mysqldb://placement:S3cr3t@127.0.0.1:9/none',
               '--layouts', str(small.layouts))
    one_line_error(proc)
    assert "pip install 'mysqlclient'" in proc.stderr
    assert 'ModuleNotFoundError' not in proc.stderr
    assert 'S3cr3t' not in proc.stderr


def test_one_nodes_journal_error_does_not_stop_the_others(tmp_path):
    url = seed_offline(sqlite_url(tmp_path / 'p.db'), 'j', 4)
    f = Fleet(tmp_path, 'j', ['--placement-db', url])
    uuid = json.loads(f.run('status', 'j-numa-000', '--json').stdout)['uuid']
    f.state.mkdir()
    (f.state / uuid).write_text('in the way')
    proc = f.run('apply', '--all', '--yes')
    assert proc.returncode == 2, proc.stdout + proc.stderr
    rows = {line.split()[0]: line for line in proc.stdout.splitlines()
            if line.startswith('j-')}
    assert 'failed' in rows['j-numa-000'] and uuid in rows['j-numa-000']
    assert 'not a directory' in rows['j-numa-000']
    assert ' done ' in rows['j-sriov-001'] + ' '
    assert '2 done, 0 already pivoted, 1 failed.' in proc.stdout
    assert _states(f)['j-numa-000'] == 'flat'  # nothing written


# -- issue 12, the other items ----------------------------------------------

def test_a_corrupt_journal_is_named_and_rollback_goes_on(tmp_path):
    url = seed_offline(sqlite_url(tmp_path / 'p.db'), 'c', 1)
    f = Fleet(tmp_path, 'c', ['--placement-db', url])
    assert f.run('apply', 'c-numa-000', '--yes').returncode == 0
    entry = next(f.state.rglob('000000-pre-image.json'))
    entry.write_text('{"kind": "pre-')
    status = f.run('status', 'c-numa-000')
    assert status.returncode == 0 and str(entry) in status.stdout
    assert 'not a JSON document' in status.stdout
    failed = f.run('rollback', 'c-numa-000', '--yes')
    one_line_error(failed)
    assert str(entry) in failed.stderr
    back = f.run('rollback', 'c-numa-000', '--yes', '--no-journal')
    assert back.returncode == 0 and 'rolled back to flat' in back.stdout


def test_duplicate_nodes_are_pivoted_once(small):
    proc = small.run('apply', 'h-sriov-001', 'h-sriov-001', 'h-sriov-001',
                     '--yes')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line for line in proc.stdout.splitlines()
            if line.startswith('h-sriov-001')]
    assert len(rows) == 1


@pytest.mark.every_backend(
    "a commit the client never hears of: the database's transactions")
def test_a_timeout_after_a_committed_reshape_finishes_the_pivot(
        http, fault_proxy):
    name, root, vms = two_socket_host(http, 4)
    before = seed.totals(http, vms)
    # Every answer to the reshape is lost, the first one after Placement
    # committed it: the client gives up on it as unavailable.
    fault_proxy.drop_next(20, after_forward=True, match=_reshapes)
    client = PlacementClient(harness.http_placement(fault_proxy.url),
                             backoff=0.01, max_retries=2)
    result = nested_pivot.pivot(client, name, TWO_SOCKETS)
    assert result.applied and len(result.plan.consumers) == 4
    seed.assert_pivoted(http, root, name, TWO_SOCKETS, before)


@pytest.mark.every_backend(
    "two writers: the database's locking and generations")
def test_the_losing_one_of_two_writers_reports_no_change(http, fault_proxy):
    name, _, _ = two_socket_host(http, 4)
    fault_proxy.before_forward, won = other_writer_first(http, name)
    loser = nested_pivot.pivot(
        PlacementClient(harness.http_placement(fault_proxy.url),
                        backoff=0.01), name, TWO_SOCKETS)
    assert not fault_proxy.hook_errors
    assert won[0].applied and len(won[0].plan.consumers) == 4
    assert not loser.applied and loser.retries == 1
    assert loser.plan.is_noop


def test_output_survives_ascii_stdout_and_a_closed_pipe(small):
    env = dict(os.environ, PYTHONIOENCODING='latin-1')
    proc = subprocess.run(
        [SCRIPT, 'plan', 'h-numa-000', *small.access, '--layouts',
         str(small.layouts)], capture_output=True, env=env, check=False,
        timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert b'+- ' in proc.stdout or b'`- ' in proc.stdout
    piped = subprocess.run(
        f'{SCRIPT} check --placement-db {small.access[1]} --layouts '
        f'{small.layouts} | head -c 10', shell=True, capture_output=True,
        text=True, check=False, timeout=300)
    assert 'error' not in piped.stderr and 'Traceback' not in piped.stderr


def test_errors_under_json_are_json(small):
    proc = small.run('plan', 'no-such-node', '--json')
    assert proc.returncode == USAGE  # issue 22: an unknown node is usage
    document = json.loads(proc.stdout)
    assert 'no-such-node' in document['error']
    assert document['code'] == 'nested_pivot.placement.node_not_found'


@pytest.mark.parametrize('args,message', [
    (('apply', '--all', '--concurrency', '0'), 'at least 1'),
    (('apply', '--all', '--concurrency', '-5'), 'at least 1'),
    (('discover', '--physnet', 'ens1f0'), 'IFACE=PHYSNET'),
    (('discover', '--physnet', '=net'), 'IFACE=PHYSNET'),
    (('apply',), 'name the nodes to pivot, or give --all'),
    (('apply', 'h-numa-000', '--all'), 'name the nodes to pivot'),
])
def test_bad_arguments_are_usage_errors(small, args, message):
    proc = small.run(*args)
    assert proc.returncode == USAGE, proc.stdout + proc.stderr
    assert message in proc.stderr


@pytest.mark.parametrize('setup,message', [
    ('layouts-dir', 'no *.yaml'),
    ('layouts-latin1', 'not UTF-8'),
    ('state-file', 'not a directory'),
    ('output-dir', 'cannot write the layout'),
])
def test_errors_say_what_and_where_not_an_exception_name(tmp_path, small,
                                                        setup, message):
    args = ['check', *small.access, '--layouts', str(small.layouts)]
    if setup == 'layouts-dir':
        (tmp_path / 'x.yaml').mkdir()
        args[-1] = str(tmp_path)
    elif setup == 'layouts-latin1':
        (tmp_path / 'l.yaml').write_bytes(b'layouts: [\xe9]')
        args[-1] = str(tmp_path / 'l.yaml')
    elif setup == 'state-file':
        (tmp_path / 'state').write_text('')
        args = ['apply', 'h-gpu-002', '--yes', *small.access, '--layouts',
                str(small.layouts), '--state-dir', str(tmp_path / 'state')]
    else:
        args = ['discover', '--sysfs', str(Path(__file__).parents[1]
                                            / 'fixtures' / 'sysfs'),
                '--output', str(tmp_path)]
    proc = cli(*args)
    assert message in proc.stdout + proc.stderr
    assert 'Error:' not in proc.stderr and 'Traceback' not in proc.stderr


@pytest.mark.every_backend(
    "concurrent writers: the database's locking and generations")
def test_concurrent_applies_of_one_node_journal_once_each(
        http, real_server_url, tmp_path):
    prefix = seed.unique('two')
    name = f'{prefix}-numa-000'
    fleet.node(http, name, 'numa')
    seed.mark_hook(http, fleet.roots(http, prefix)[0])
    results: list[subprocess.CompletedProcess] = []
    with harness.FaultProxy(real_server_url) as proxy:
        proxy.set_headers = {'X-Roles': 'admin,service'}
        conf = tmp_path / 'nova.conf'
        harness.nova_conf(conf, proxy.url)
        f = Fleet(tmp_path, prefix, ['--config-file', str(conf)])

        def apply() -> None:
            results.append(f.run('apply', name, '--yes'))

        threads = [threading.Thread(target=apply) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert [r.returncode for r in results] == [0, 0], results
    # One moved the six instances; the other found them moved, and at
    # most finished the child traits the first had not set yet.
    moved = sorted('6 consumers moved' in r.stdout for r in results)
    assert moved == [False, True], [r.stdout for r in results]
    # The journal says the same: one run moved them; another at most
    # finished the traits (0 moved) or found it done (unchanged).
    results = sorted((b['outcome'], b['detail']) for b in (
        json.loads(p.read_text()) for p in f.state.rglob('*-result.json')))
    assert results.count(('done', '6 consumers moved')) == 1, results
    assert set(results) <= {('done', '6 consumers moved'),
                            ('done', '0 consumers moved'),
                            ('unchanged', 'another writer pivoted it '
                                          'first')}, results
