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

"""The real ``nested-pivot`` console script, in a subprocess, against real
Placement: offline over a Placement database (SQLite, and a database of its
own on each real server's PostgreSQL or MariaDB), and online through each
HTTP server with nova.conf-style credentials."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
import re
import signal
import subprocess
import sys
import threading
from typing import Any
import uuid as uuidlib

import pytest

from tests.functional import fleet
from tests.functional import harness
from tests.functional import inprocess
from tests.functional import seed

SCRIPT = str(Path(sys.executable).with_name('nested-pivot'))
ROOT = Path(__file__).resolve().parents[2]
FLEET = 52
#: Where the offline fleet's Placement database lives.
OFFLINE_DBS = ('sqlite', *harness.BACKENDS)


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """The command's exit code and output: in this process where a
    subprocess proves nothing more (:mod:`tests.functional.inprocess`),
    else the console script in a subprocess."""
    if inprocess.possible(args):
        return inprocess.run(SCRIPT, args, ROOT)
    return subprocess.run(
        [SCRIPT, *args], capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL, cwd=ROOT, check=False)


def one_line_error(proc: subprocess.CompletedProcess,
                   code: int = 255) -> None:
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert 'Traceback' not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('nested-pivot: error:')


def sqlite_url(path: Path) -> str:
    return f'sqlite:///{path}'


def seed_offline(url: str, prefix: str, count: int, *extra: str) -> str:
    """Sync the schema of the Placement database ``url`` and seed it, in a
    process of its own (Placement configures one database per process)."""
    subprocess.run(
        [sys.executable, '-m', 'tests.functional.fleet', url, prefix,
         str(count), *extra], check=True, cwd=ROOT, timeout=600)
    return url


class Fleet:
    """The access options, layout file and journal dir of one fleet."""

    def __init__(self, tmp: Path, prefix: str, access: list[str]) -> None:
        self.prefix = prefix
        self.layouts = tmp / 'layouts.yaml'
        self.layouts.write_text(fleet.layouts(prefix))
        self.state = tmp / 'state'
        self.access = access

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return cli(*args, *self.access, '--layouts', str(self.layouts),
                   '--state-dir', str(self.state))

    def check(self) -> dict[str, Any]:
        proc = self.run('check', '--json')
        document = json.loads(proc.stdout)
        assert document['code'] == proc.returncode, proc.stderr
        document['states'] = {
            n['node']: n['state'] for n in document['nodes']
            if n['node'].startswith(self.prefix + '-')}
        return document


class Fleets:
    """This module's fleets, each seeded on first use: offline over a
    Placement database (SQLite, or one of its own on a real server), and
    online through a real server."""

    def __init__(self, tmp_path_factory: Any, servers: Any) -> None:
        self.tmp_path_factory = tmp_path_factory
        self.servers = servers
        self.fleets: dict[str, Fleet] = {}
        self.exit = contextlib.ExitStack()

    def offline(self, db: str) -> Fleet:
        key = f'offline-{db}'
        if key not in self.fleets:
            tmp = self.tmp_path_factory.mktemp(key)
            if db == 'sqlite':
                url = sqlite_url(tmp / 'placement.db')
            else:
                server = self.servers.get(db)
                if server.db is None:
                    pytest.skip(f'no database URL for the {db} server')
                url = harness.create_database(
                    server.db, f'np_offline_{uuidlib.uuid4().hex[:12]}')
                self.exit.callback(harness.drop_database, url)
            seed_offline(url, 'off', FLEET)
            self.fleets[key] = Fleet(tmp, 'off', ['--placement-db', url])
        return self.fleets[key]

    def online(self, backend: str) -> Fleet:
        key = f'online-{backend}'
        if key not in self.fleets:
            url = self.servers.get(backend).url
            tmp = self.tmp_path_factory.mktemp(key)
            prefix = seed.unique('on')
            adapter = harness.http_placement(url)
            fleet.fleet(adapter, prefix, FLEET)
            for root in fleet.roots(adapter, prefix):
                seed.mark_hook(adapter, root)  # their computes run the hook
            proxy = self.exit.enter_context(harness.FaultProxy(url))
            # What keystonemiddleware does for a token with these roles.
            proxy.set_headers = {'X-Roles': 'admin,service'}
            conf = tmp / 'nova.conf'
            harness.nova_conf(conf, proxy.url)
            self.fleets[key] = Fleet(tmp, prefix, ['--config-file', str(conf)])
        return self.fleets[key]


@pytest.fixture(scope='module')
def fleets(tmp_path_factory, placement_servers) -> Any:
    found = Fleets(tmp_path_factory, placement_servers)
    with found.exit:
        yield found


@pytest.fixture(params=OFFLINE_DBS)
def offline(request, fleets) -> Fleet:
    """The offline fleet, over each kind of Placement database."""
    return fleets.offline(request.param)


@pytest.fixture(params=[
    *(pytest.param(f'offline-{db}', marks=pytest.mark.every_backend(
        "offline, Placement's SQL in each database's dialect"))
      for db in OFFLINE_DBS),
    *(f'online-{b}' for b in harness.BACKENDS)])
def any_fleet(request, fleets) -> Fleet:
    kind, _, where = request.param.partition('-')
    found: Fleet = getattr(fleets, kind)(where)
    return found


def test_fleet_check_plan_apply_check_rollback(any_fleet):
    f = any_fleet
    before = f.check()
    assert before['code'] == 1 and before['placement'] == {
        'microversion': '1.39', 'reshaper_policy': True}
    states = before['states']
    assert len(states) == FLEET
    assert {s for n, s in states.items() if '-plain-' in n} == {
        'not_applicable'}
    assert {s for n, s in states.items() if '-plain-' not in n} == {'flat'}

    node = f'{f.prefix}-numa-000'
    plan = f.run('plan', node)
    assert plan.returncode == 0, plan.stderr
    assert f'{node}_NUMA0' in plan.stdout and '[' in plan.stdout
    assert f'{node} -> {node}_NUMA' in plan.stdout
    assert f.check()['states'][node] == 'flat'  # the plan changed nothing

    applied = f.run('apply', '--all', '--concurrency', '4', '--yes')
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert f'{FLEET * 3 // 4} done, 0 already pivoted, 0 failed' in \
        applied.stdout
    assert 'ETA' in applied.stderr
    # Offline, Placement runs in the command: one node at a time on
    # SQLite, in worker processes on a database server.
    one_at_a_time = 'Offline, nodes are pivoted one at a time'
    offline = '--placement-db' in f.access
    on_sqlite = offline and f.access[-1].startswith('sqlite')
    assert (one_at_a_time in applied.stderr) == on_sqlite, applied.stderr
    assert ('Offline: 4 worker processes' in applied.stderr) == (
        offline and not on_sqlite), applied.stderr
    after = f.check()
    assert after['code'] == 0
    assert {s for n, s in after['states'].items() if '-plain-' not in n} \
        == {'pivoted'}

    for shape in ('numa', 'sriov', 'gpu'):
        back = f.run('rollback', _first(after['states'], shape), '--yes')
        assert back.returncode == 0 and 'rolled back to flat' in back.stdout
    final = f.check()
    assert final['code'] == 1
    assert sorted(s for s in final['states'].values() if s == 'flat') == \
        ['flat'] * 3

    status = f.run('status', node)
    assert status.returncode == 0 and 'pre-image' in status.stdout
    assert 'result' in status.stdout and 'done' in status.stdout


def _first(states: dict[str, str], shape: str) -> str:
    return sorted(n for n in states if f'-{shape}-' in n)[0]


def test_already_pivoted_and_infeasible_nodes(tmp_path):
    url = seed_offline(sqlite_url(tmp_path / 'p.db'), 'x', 4,
                       'tight=x-tight-900')
    f = Fleet(tmp_path, 'x', ['--placement-db', url])
    first = f.run('apply', 'x-numa-000', '--yes')
    assert first.returncode == 0
    check = f.check()
    assert check['code'] == 2
    assert check['states']['x-tight-900'] == 'cannot_pivot'
    reason = next(n['reason'] for n in check['nodes']
                  if n['node'] == 'x-tight-900')
    assert 'x-tight-900' in reason and 'VCPU=3' in reason
    run = f.run('apply', '--all', '--yes')
    assert run.returncode == 2
    rows = {line.split()[0]: line for line in run.stdout.splitlines()
            if line.startswith('x-')}
    assert 'already pivoted' in rows['x-numa-000']
    assert 'failed' in rows['x-tight-900']
    assert ' done ' in rows['x-sriov-001'] + ' '
    assert f.check()['states']['x-tight-900'] == 'cannot_pivot'


def test_stale_layout_file_is_reported(tmp_path):
    url = seed_offline(sqlite_url(tmp_path / 'p.db'), 's', 1)
    f = Fleet(tmp_path, 's', ['--placement-db', url])
    assert f.run('apply', 's-numa-000', '--yes').returncode == 0
    # The layout file later shrinks the cells below what runs on them
    # (the ratio given: left out, it is kept from Placement, 2.0).
    f.layouts.write_text(fleet.layouts('s').replace(
        'VCPU: {total: 16, allocation_ratio: 2.0}',
        'VCPU: {total: 2, allocation_ratio: 1.0}'))
    check = f.check()
    assert check['code'] == 2
    reason = next(n['reason'] for n in check['nodes']
                  if n['node'] == 's-numa-000')
    assert 's-numa-000_NUMA0 would offer 2 VCPU' in reason


def test_interrupted_apply_reruns_to_completion(tmp_path):
    url = seed_offline(sqlite_url(tmp_path / 'p.db'), 'i', 24)
    f = Fleet(tmp_path, 'i', ['--placement-db', url])
    proc = subprocess.Popen(
        [SCRIPT, 'apply', '--all', '--yes', *f.access, '--layouts',
         str(f.layouts), '--state-dir', str(f.state)], cwd=ROOT,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert 'nodes, ETA' in line
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, out + err
    assert 'interrupted; rerun' in err and 'Traceback' not in err
    assert 'not started' in out  # the summary lists the nodes left
    middle = f.check()['states']
    done = [n for n, s in middle.items() if s == 'pivoted']
    assert 1 <= len(done) < 18
    assert 'partial' not in middle.values()
    rerun = f.run('apply', '--all', '--yes')
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f'{len(done)} already pivoted' in rerun.stdout
    assert f.check()['code'] == 0


def test_request_and_cancel(offline):
    node = f'{offline.prefix}-numa-000'  # flat, or rolled back to flat
    asked = offline.run('request', node)
    assert asked.returncode == 0
    assert 'next restart of nova-compute' in asked.stdout
    cancelled = offline.run('request', '--cancel', node)
    assert cancelled.returncode == 0 and 'withdrawn' in cancelled.stdout


def test_request_marks_the_root_for_the_hook(http, real_server_url,
                                             tmp_path):
    name = f'{seed.unique("req")}-numa-000'
    root = seed.flat_node(http, name, {'VCPU': {'total': 4}})
    f = Fleet(tmp_path, 'req', [])
    conf = tmp_path / 'nova.conf'
    with harness.FaultProxy(real_server_url) as proxy:
        proxy.set_headers = {'X-Roles': 'admin,service'}
        harness.nova_conf(conf, proxy.url)
        f.access = ['--config-file', str(conf)]
        f.layouts.write_text(fleet.layouts(name.rsplit('-numa-', 1)[0]))
        assert f.run('request', name).returncode == 0
        traits = seed.call(http, 'GET', f'/resource_providers/{root}/traits')
        assert 'CUSTOM_NESTED_PIVOT_REQUESTED' in traits['traits']
        assert f.run('request', name, '--cancel').returncode == 0
        traits = seed.call(http, 'GET', f'/resource_providers/{root}/traits')
        assert 'CUSTOM_NESTED_PIVOT_REQUESTED' not in traits['traits']


def test_shared_options_before_and_after_the_command(offline):
    before = cli(*offline.access, '--layouts', str(offline.layouts),
                 'check', '--json')
    after = cli('check', *offline.access, '--layouts',
                str(offline.layouts), '--json')
    assert before.returncode == after.returncode
    assert json.loads(before.stdout)['nodes'] == \
        json.loads(after.stdout)['nodes']


def test_errors_are_one_line(tmp_path, real_server_url):
    one_line_error(cli('check', '--config-file', str(tmp_path / 'nope')))
    bad = tmp_path / 'bad.conf'
    bad.write_text('[placement\nauth_type = ???\n')
    one_line_error(cli('check', '--config-file', str(bad)))
    one_line_error(cli('check', '--placement-db', 'not a url'))
    one_line_error(cli('check', '--placement-db',
                       'postgresql+psycopg2://nobody@127.0.0.1:9/none'))
    one_line_error(cli('check', '--placement-db',
                       'mysql+pymysql://nobody@127.0.0.1:9/none'))
    wrong = tmp_path / 'wrong.conf'
    harness.nova_conf(wrong, real_server_url, token='bogus')
    layouts = tmp_path / 'l.yaml'
    layouts.write_text(fleet.layouts('w'))
    proc = cli('check', '--config-file', str(wrong), '--layouts',
               str(layouts))
    one_line_error(proc)
    assert '403' in proc.stderr
    broken = tmp_path / 'broken.yaml'
    broken.write_text('layouts:\n  - match: "a*"\n    children:\n'
                      '      - name: N0\n        inventory: {VCPU: -1}\n')
    proc = cli('check', '--placement-db', 'sqlite://', '--layouts',
               str(broken))
    one_line_error(proc)
    assert str(broken) in proc.stderr
    assert 'layouts[0].children[0]' in proc.stderr


def test_discover_from_a_fake_sysfs(tmp_path, offline):
    out = tmp_path / 'host.yaml'
    proc = cli('discover', '--sysfs', str(ROOT / 'tests/fixtures/sysfs'),
               '--hostname', f'{offline.prefix}-numa-004',
               '--physnet', 'ens1f0=physnet1', '--output', str(out))
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert 'NUMA1' in text and 'ens1f0' in text
    assert 'CUSTOM_PHYSNET_PHYSNET1' in text and 'pci_0000_84_00_0' in text
    checked = cli('check', '--json', '--layouts', str(out),
                  *offline.access)
    rows = {n['node']: n for n in json.loads(checked.stdout)['nodes']}
    # The discovered rule matches the host it was discovered on only.
    assert rows[f'{offline.prefix}-numa-004']['state'] != 'not_applicable'
    assert rows[f'{offline.prefix}-numa-000']['state'] == 'not_applicable'


def test_rollback_restores_the_flat_records_from_the_journal(
        http, real_server_url, tmp_path):
    prefix = seed.unique('rb')
    name = f'{prefix}-numa-000'
    flat = {'VCPU': {'total': 32, 'reserved': 2, 'allocation_ratio': 2.0,
                     'max_unit': 16, 'min_unit': 1, 'step_size': 1},
            'MEMORY_MB': {'total': 32768, 'reserved': 512, 'min_unit': 1,
                          'max_unit': 32768, 'step_size': 1,
                          'allocation_ratio': 1.0}}
    root = seed.flat_node(http, name, flat)
    seed.mark_hook(http, root)
    seed.instances(http, root, 3, {'VCPU': 2, 'MEMORY_MB': 1024})
    with harness.FaultProxy(real_server_url) as proxy:
        proxy.set_headers = {'X-Roles': 'admin,service'}
        conf = tmp_path / 'nova.conf'
        harness.nova_conf(conf, proxy.url)
        f = Fleet(tmp_path, prefix, ['--config-file', str(conf)])
        assert f.run('apply', name, '--yes').returncode == 0
        back = f.run('rollback', name, '--yes')
        assert back.returncode == 0, back.stdout + back.stderr
    now = seed.call(http, 'GET', f'/resource_providers/{root}/inventories')
    assert now['inventories'] == flat


@pytest.mark.parametrize('backend', harness.BACKENDS)
def test_the_command_in_process_answers_as_the_console_script(fleets,
                                                              backend):
    """Fails when running ``nested-pivot`` through ``main(argv)`` in the
    test's process (tests.functional.inprocess) answers otherwise than
    the console script in a subprocess: the exit code, stdout and stderr
    of an online check, a usage error and --help must be the same, or
    the tests that run it in process prove nothing of the command."""
    f = fleets.online(backend)
    common = [*f.access, '--layouts', str(f.layouts), '--state-dir',
              str(f.state)]
    for args in (['check', '--json', *common], ['plan', *common],
                 ['apply', *common], ['check', '--help']):
        assert inprocess.possible(args)
        here = inprocess.run(SCRIPT, args, ROOT)
        there = subprocess.run(
            [SCRIPT, *args], capture_output=True, text=True, timeout=600,
            stdin=subprocess.DEVNULL, cwd=ROOT, check=False)
        assert (here.returncode, here.stdout, _steady(here.stderr)) == (
            there.returncode, there.stdout, _steady(there.stderr)), args
    assert not inprocess.possible(['check', '--placement-db', 'sqlite://'])
    assert not inprocess.possible(['apply', '--workers=2'])
    from_thread: list[bool] = []
    thread = threading.Thread(
        target=lambda: from_thread.append(inprocess.possible(['check'])))
    thread.start()
    thread.join()
    assert from_thread == [False]  # racing commands are processes


PROGRESS = re.compile(r'^\[[#.]+\] (\d+/\d+) .*$', re.M)


def _steady(stderr: str) -> str:
    """``stderr`` without what differs from run to run: the progress
    lines' ETAs and the order nodes finish in (their count stays)."""
    return PROGRESS.sub(r'progress \1', stderr)
