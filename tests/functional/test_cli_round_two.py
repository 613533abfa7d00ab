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

"""Issue 22, sections A and B: the second adversarial pass, through the
real console script against real Placement.

Each test runs where its defect lives: on every backend (Placement in
process over SQLite, offline; the PostgreSQL and MariaDB gunicorn servers,
online through a real proxy) where the database matters, offline on
SQLite where it does not.  Faults come from the real proxy in front of
the real server, signals are real signals sent to the real process.
"""

from __future__ import annotations

from collections.abc import Iterator
import dataclasses
import json
import os
from pathlib import Path
import pty
import resource
import signal
import stat
import subprocess
import time
from typing import Any
import uuid as uuidlib

import pytest

import nested_pivot
from nested_pivot import Child
from nested_pivot import errors
from nested_pivot import exception
from nested_pivot import Layout
from nested_pivot.placement import PlacementClient
from tests.functional import fleet
from tests.functional import harness
from tests.functional import seed
from tests.functional.test_cli import cli
from tests.functional.test_cli import one_line_error
from tests.functional.test_cli import ROOT
from tests.functional.test_cli import SCRIPT
from tests.functional.test_cli import seed_offline
from tests.functional.test_pivot import client_for
from tests.functional.test_pivot import two_socket_host
from tests.functional.test_pivot import TWO_SOCKETS

WHERE = ('sqlite', *harness.BACKENDS)

LAYOUT = """\
layouts:
  - match: "{prefix}-*"
    children:
      - name: NUMA0
        {uuid0}inventory:
          VCPU: {{total: 8, allocation_ratio: {ratio}}}
          MEMORY_MB: {{total: 8192}}
        traits: [HW_NUMA_ROOT]
      - name: NUMA1
        {uuid1}inventory:
          VCPU: {{total: 8, allocation_ratio: {ratio}}}
          MEMORY_MB: {{total: 8192}}
        traits: [HW_NUMA_ROOT]
"""


def layout(prefix: str, ratio: float = 2.0, uuids: tuple[str, ...] = ()
           ) -> str:
    fixed = [f'uuid: {u}\n        ' for u in uuids] or ['', '']
    return LAYOUT.format(prefix=prefix, ratio=ratio, uuid0=fixed[0],
                         uuid1=fixed[1])


@dataclasses.dataclass
class Where:
    """One Placement: how the test reaches it (``adapter``), how the CLI
    does (``access``), and the proxy in front of a server."""

    kind: str
    adapter: Any
    access: list[str]
    proxy: harness.FaultProxy | None
    tmp: Path

    def __post_init__(self) -> None:
        self.prefix = seed.unique('r2')
        self.layouts = self.tmp / 'layouts.yaml'
        self.layouts.write_text(layout(self.prefix))
        self.state = self.tmp / 'state'

    def node(self, shape: str = 'a', vms: int = 3, ratio: float = 2.0
             ) -> tuple[str, str, list[str]]:
        """A flat two-cell node of this fleet; its name, uuid, instances.
        Its nova-compute runs the hook (online, apply may pivot it)."""
        name = f'{self.prefix}-{shape}'
        root = seed.flat_node(self.adapter, name, {
            'VCPU': {'total': 16, 'allocation_ratio': ratio},
            'MEMORY_MB': {'total': 16384},
            'DISK_GB': {'total': 100}})
        seed.mark_hook(self.adapter, root)
        return name, root, seed.instances(
            self.adapter, root, vms,
            {'VCPU': 2, 'MEMORY_MB': 1024, 'DISK_GB': 1})

    def run(self, *args: str, layouts: Path | None = None,
            state: Path | None = None) -> subprocess.CompletedProcess:
        return cli(*args, *self.access, '--layouts',
                   str(layouts or self.layouts), '--state-dir',
                   str(state or self.state))

    def states(self) -> dict[str, str]:
        proc = self.run('check', '--json')
        return {n['node']: n['state']
                for n in json.loads(proc.stdout)['nodes']
                if n['node'].startswith(self.prefix)}

    def children(self, root: str) -> list[dict[str, Any]]:
        return [p for p in seed.tree(self.adapter, root)
                if p['uuid'] != root]


@pytest.fixture(params=WHERE)
def where(request: pytest.FixtureRequest, tmp_path: Path,
          placement_servers: Any) -> Iterator[Where]:
    """Each backend: offline over the in-process SQLite database, online
    through a proxy in front of each real server."""
    if request.param == 'sqlite':
        with harness.direct_placement() as adapter:
            url = harness._process_database().placement_database.connection
            yield Where('sqlite', adapter, ['--placement-db', url], None,
                        tmp_path)
        return
    yield from _online(request.param, tmp_path, placement_servers)


@pytest.fixture(params=harness.BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path: Path,
           placement_servers: Any) -> Iterator[Where]:
    """Each real server, online through a proxy."""
    yield from _online(request.param, tmp_path, placement_servers)


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[Where]:
    """Offline over the in-process SQLite database: where the database
    does not matter."""
    with harness.direct_placement() as adapter:
        url = harness._process_database().placement_database.connection
        yield Where('sqlite', adapter, ['--placement-db', url], None,
                    tmp_path)


def _online(backend: str, tmp_path: Path, servers: Any) -> Iterator[Where]:
    url = servers.get(backend).url
    with harness.FaultProxy(url) as proxy:
        proxy.set_headers = {'X-Roles': 'admin,service'}
        conf = harness.nova_conf(tmp_path / 'nova.conf', proxy.url)
        yield Where(backend, harness.http_placement(url),
                    ['--config-file', str(conf)], proxy, tmp_path)


def _rows(proc: subprocess.CompletedProcess, prefix: str) -> dict[str, str]:
    return {line.split()[0]: line for line in proc.stdout.splitlines()
            if line.startswith(prefix)}


def _on_root(where: Where, root: str, vms: list[str]) -> bool:
    return all(set(seed.allocations(where.adapter, vm)['allocations'])
               == {root} for vm in vms)


# -- A1: an existing --state-dir keeps its mode -----------------------------

def test_an_existing_state_dir_keeps_its_mode(sqlite):
    """Fails when apply changes the mode of a state dir it did not make,
    or uses one that others may write in."""
    name, root, vms = sqlite.node()
    shared = sqlite.tmp / 'shared'
    shared.mkdir()
    shared.chmod(0o1777)
    refused = sqlite.run('apply', name, '--yes', state=shared)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert 'others may write in it (mode 1777)' in refused.stdout
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert list(shared.iterdir()) == []
    assert sqlite.states()[name] == 'flat' and _on_root(sqlite, root, vms)

    mine = sqlite.tmp / 'mine'
    mine.mkdir()
    mine.chmod(0o755)
    done = sqlite.run('apply', name, '--yes', state=mine)
    assert done.returncode == 0, done.stdout + done.stderr
    assert stat.S_IMODE(mine.stat().st_mode) == 0o755
    assert stat.S_IMODE((mine / root).stat().st_mode) == 0o700

    new = sqlite.tmp / 'new' / 'state'
    back = sqlite.run('rollback', name, '--yes', state=new)
    assert back.returncode == 0, back.stdout + back.stderr
    assert stat.S_IMODE(new.stat().st_mode) == 0o700


# -- A2: rollback without --layouts -----------------------------------------

def _pivot_with_fixed_uuids(where: Where) -> tuple[str, str, list[str],
                                                   list[str]]:
    uuids = [str(uuidlib.uuid4()), str(uuidlib.uuid4())]
    where.layouts.write_text(layout(where.prefix, uuids=tuple(uuids)))
    name, root, vms = where.node()
    applied = where.run('apply', name, '--yes')
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert sorted(p['uuid'] for p in where.children(root)) == sorted(uuids)
    return name, root, vms, uuids


def _flat_again(where: Where, root: str, vms: list[str]) -> None:
    assert where.children(root) == []
    assert _on_root(where, root, vms)
    inventory = seed.call(where.adapter, 'GET',
                          f'/resource_providers/{root}/inventories')
    assert set(inventory['inventories']) == {'VCPU', 'MEMORY_MB', 'DISK_GB'}


def test_rollback_without_layouts_finds_fixed_uuid_children(sqlite):
    """Fails when a rollback without --layouts, as the operator guide
    shows it, leaves the children of fixed uuids with their inventory and
    allocations while the root regains its flat records."""
    name, root, vms, _ = _pivot_with_fixed_uuids(sqlite)
    back = sqlite.run('rollback', name, '--yes',
                      layouts=sqlite.tmp / 'no-such-layouts.yaml')
    assert back.returncode == 0, back.stdout + back.stderr
    assert '3 consumers moved' in back.stdout
    _flat_again(sqlite, root, vms)
    assert sqlite.states()[name] == 'flat'


def test_rollback_of_a_renamed_root_moves_everything_back(sqlite):
    """Fails when a rollback of a node whose root was renamed after its
    pivot leaves the children (named after the old name) behind."""
    name, root, vms = sqlite.node()
    assert sqlite.run('apply', name, '--yes').returncode == 0
    provider = seed.call(sqlite.adapter, 'GET', f'/resource_providers/{root}')
    renamed = f'{name}-renamed'
    seed.call(sqlite.adapter, 'PUT', f'/resource_providers/{root}',
              {'name': renamed, 'parent_provider_uuid': None})
    assert provider['name'] == name
    back = sqlite.run('rollback', renamed, '--yes')
    assert back.returncode == 0, back.stdout + back.stderr
    assert '3 consumers moved' in back.stdout
    _flat_again(sqlite, root, vms)


def test_rollback_reads_children_from_old_journal_entries(sqlite):
    """Fails when a pre-image written before entries named the children
    (no "owned") does not let a rollback find them."""
    name, root, vms, _ = _pivot_with_fixed_uuids(sqlite)
    entry = next((sqlite.state / root).glob('*-pre-image.json'))
    body = json.loads(entry.read_text())
    del body['owned']
    entry.write_text(json.dumps(body))
    back = sqlite.run('rollback', name, '--yes',
                      layouts=sqlite.tmp / 'no-such-layouts.yaml')
    assert back.returncode == 0, back.stdout + back.stderr
    _flat_again(sqlite, root, vms)


def test_a_rollback_that_cannot_find_the_children_refuses(sqlite):
    """Fails when a rollback that knows neither the layout nor the
    journal writes anything, or does not name the options it needs."""
    name, root, vms, uuids = _pivot_with_fixed_uuids(sqlite)
    before = seed.dump(sqlite.adapter, root, vms)
    refused = sqlite.run('rollback', name, '--yes', '--no-journal',
                         layouts=sqlite.tmp / 'no-such-layouts.yaml')
    assert refused.returncode == 2, refused.stdout + refused.stderr
    text = ' '.join(refused.stdout.split())
    assert f'{name}_NUMA0 ({uuids[0]}) keeps MEMORY_MB, VCPU' in text
    assert '--layouts' in text and '--no-journal' in text
    assert 'Nothing was changed' in text
    assert seed.dump(sqlite.adapter, root, vms) == before
    dry = sqlite.run('rollback', name, '--dry-run', '--no-journal',
                     layouts=sqlite.tmp / 'no-such-layouts.yaml')
    one_line_error(dry)
    assert 'keeps MEMORY_MB, VCPU' in dry.stderr
    assert sqlite.states()[name] == 'pivoted'


# -- A3: one masking function for every URL ----------------------------------

@pytest.fixture(scope='module')
def postgresql_db(placement_servers: Any) -> Iterator[str]:
    """A Placement database of its own on the PostgreSQL server (trust
    authentication: any password is let in), seeded with one node."""
    server = placement_servers.get('postgresql')
    if server.db is None:
        pytest.skip('no database URL for the postgresql server')
    url = harness.create_database(server.db,
                                  f'np_mask_{uuidlib.uuid4().hex[:10]}')
    try:
        seed_offline(url, 'mask', 1)
        yield url
    finally:
        harness.drop_database(url)


def _with_password(url: str, form: str, secret: str) -> str:
    """``url`` (user ``placement``, no password) with ``secret`` in
    ``form``."""
    head, _, rest = url.partition('://placement@')
    if form == 'query':
        return f'{head}://placement@{rest}?password={secret}'
    return f'{head}://placement:{secret}@{rest}'


@pytest.mark.parametrize('form,secret', [
    ('query', 'S3cr3t-q'),
    ('userinfo', 'S3cr3t-u'),
    ('userinfo', 'S3cr3t%40pct'),
    ('userinfo', 'pa ss-S3cr3t'),
    ('userinfo', 'od"d\'ch;ars-S3cr3t'),
])
def test_a_password_is_never_printed_on_success(postgresql_db, tmp_path,
                                                form, secret):
    """Fails when plan's "Apply with" line, or any other output of a
    command that succeeds, shows the password of --placement-db in any of
    its forms."""
    url = _with_password(postgresql_db, form, secret)
    layouts = tmp_path / 'l.yaml'
    layouts.write_text(fleet.layouts('mask'))
    for debug in ((), ('--debug',)):
        proc = cli('plan', 'mask-numa-000', *debug, '--placement-db', url,
                   '--layouts', str(layouts))
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert 'Apply with:' in proc.stdout
        output = proc.stdout + proc.stderr
        for shown in (secret, secret.replace('%40', '@'), 'S3cr3t'):
            assert shown not in output, (form, secret)
    assert '***' in proc.stdout


@pytest.mark.parametrize('url,leak', [
    ('postgresql+psycopg2://placement:S3cr3t@127.0.0.1:9/none', 'S3cr3t'),
    ('postgresql+psycopg2://placement@127.0.0.1:9/none?password=S3cr3t',
     'S3cr3t'),
    ('postgresql+psycopg2://placement:pa ss S3cr3t@127.0.0.1:9/none',
     'S3cr3t'),
    ('mysql+pymysql://placement:p@ss-S3cr3t@127.0.0.1:9/none', 'S3cr3t'),
    ('mysql+pymysql://placement:p%40ss-S3cr3t@127.0.0.1:9/none', 'S3cr3t'),
])
def test_a_password_is_never_printed_on_failure(tmp_path, url, leak):
    """Fails when an unusable --placement-db shows its password, in one
    line, under --debug, or in the --json error document."""
    layouts = tmp_path / 'l.yaml'
    layouts.write_text(layout('x'))
    for extra in ((), ('--debug',), ('--json',)):
        proc = cli('check', *extra, '--placement-db', url,
                   '--placement-db-wait', '0', '--layouts', str(layouts))
        assert proc.returncode == 255, proc.stdout + proc.stderr
        assert leak not in proc.stdout + proc.stderr, extra
    assert 'nested-pivot: error:' in proc.stderr
    if '@ss' in url:  # an unencoded "@": refused before it is used
        assert 'percent-encode it as %40' in proc.stderr


# -- A4: MariaDB's single-precision allocation_ratio -------------------------

@pytest.mark.every_backend(
    "a float the database's column type may round")
def test_a_ratio_of_many_digits_converges(where):
    """Fails when a node pivoted with an allocation ratio of more than 6
    significant digits is not pivoted afterwards (MariaDB stores it as a
    single-precision float), and every apply rewrites it."""
    where.layouts.write_text(layout(where.prefix, ratio=1.2345678))
    name, root, _ = where.node(ratio=1.2345678)
    first = where.run('apply', name, '--yes')
    assert first.returncode == 0, first.stdout + first.stderr
    assert where.states()[name] == 'pivoted'
    again = where.run('apply', name, '--yes')
    assert again.returncode == 0, again.stdout + again.stderr
    assert 'already pivoted' in _rows(again, name)[name]
    stored = {p['name']: seed.call(
        where.adapter, 'GET',
        f'/resource_providers/{p["uuid"]}/inventories')['inventories']
        for p in where.children(root)}
    ratio = stored[f'{name}_NUMA0']['VCPU']['allocation_ratio']
    assert ratio == (1.23457 if where.kind == 'mariadb' else 1.2345678)


# -- A5: a malformed 200 answer ----------------------------------------------

HTML = (b'<!DOCTYPE html><html><head><title>Sign in</title></head>'
        b'<body>Please sign in to the corporate proxy</body></html>')


def test_a_malformed_answer_fails_its_node_and_the_fleet_goes_on(server):
    """Fails when an HTML page or JSON without the expected key in a 200
    answer is a raw TypeError, KeyError or AttributeError that aborts
    apply --all, with no summary and later nodes left partial."""
    a, _, _ = server.node('a')
    b, root_b, vms_b = server.node('b')
    c, root_c, vms_c = server.node('c')
    d, _, _ = server.node('d')
    proxy = server.proxy
    assert proxy is not None
    proxy.reply_next(1, 200, HTML, 'text/html', match=lambda m, p: (
        m == 'GET' and p == f'/resource_providers/{root_b}/inventories'))
    proxy.reply_next(1, 200, b'{"usages": {}}', 'application/json',
                     match=lambda m, p: m == 'GET' and p.startswith(
                         f'/resource_providers/{root_c}/allocations'))
    run = server.run('apply', '--all', '--yes')
    assert run.returncode == 2, run.stdout + run.stderr
    assert 'Traceback' not in run.stderr
    rows = _rows(run, server.prefix)
    assert ' done ' in rows[a] + ' ' and ' done ' in rows[d] + ' '
    assert 'failed' in rows[b] and 'failed' in rows[c]
    text = ' '.join(run.stdout.split())
    assert (f'Placement answered GET /resource_providers/{root_b}/'
            f'inventories with HTTP 200, but not with what Placement sends: '
            f'the body is not a JSON object but an HTML page') in text
    assert (f'GET /resource_providers/{root_c}/allocations with HTTP 200, '
            f'but not with what Placement sends: the body has no '
            f'"allocations"') in text
    assert '2 done, 0 already pivoted, 2 failed.' in run.stdout
    states = server.states()
    assert states[b] == states[c] == 'flat'
    assert _on_root(server, root_b, vms_b) and _on_root(server, root_c,
                                                        vms_c)


# -- A6: apply without the service role --------------------------------------

def test_apply_without_the_service_role_writes_nothing(server):
    """Fails when apply --all with credentials that lack the service role
    creates empty children on any node before the reshaper's 403."""
    nodes = [server.node(shape) for shape in 'ab']
    proxy = server.proxy
    assert proxy is not None
    proxy.set_headers = {'X-Roles': 'admin'}
    proxy.clear_log()
    run = server.run('apply', '--all', '--yes')
    assert run.returncode == 2, run.stdout + run.stderr
    rows = _rows(run, server.prefix)
    for name, root, _ in nodes:
        row = ' '.join(rows[name].split())
        assert 'failed' in row and '"service" role' in row, row
        assert 'Nothing was written' in row
        assert server.children(root) == []
    assert proxy.count('POST', '/reshaper') == 1  # asked once
    assert proxy.count('POST', '/resource_providers') == 0
    assert proxy.count('PUT') == 0
    proxy.set_headers = {'X-Roles': 'admin,service'}
    name, root, vms = nodes[0]
    assert server.run('apply', name, '--yes').returncode == 0
    pivoted = seed.dump(server.adapter, root, vms)
    proxy.set_headers = {'X-Roles': 'admin'}
    back = server.run('rollback', name, '--yes')
    assert back.returncode == 2 and '"service" role' in back.stdout
    assert seed.dump(server.adapter, root, vms) == pivoted


# -- A7: SIGTERM, double Ctrl-C, an interrupted pivot ------------------------

def _fleet(where: Where, count: int) -> list[tuple[str, str, list[str]]]:
    return [where.node(f'{i:03d}', vms=2) for i in range(count)]


def _stopped_in_flight(where: Where, signals: tuple[signal.Signals, ...]
                       ) -> subprocess.Popen[str]:
    """apply --all, sent ``signals`` 50 ms apart while its first node is
    in flight: its reshape is held in the proxy until they are sent."""
    assert where.proxy is not None
    procs: list[subprocess.Popen[str]] = []

    def stop(method: str, path: str, body: bytes) -> None:
        # The first reshape itself, not the policy probe (an empty body).
        if not (path.endswith('/reshaper') and b'inventories' in body) \
                or not procs:
            return
        proc = procs.pop()
        for sig in signals:
            proc.send_signal(sig)
            time.sleep(0.05)

    where.proxy.before_forward_body = stop
    proc = subprocess.Popen(
        [SCRIPT, 'apply', '--all', '--yes', *where.access, '--layouts',
         str(where.layouts), '--state-dir', str(where.state)], cwd=ROOT,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    procs.append(proc)
    return proc


@pytest.mark.parametrize('signals,code', [
    ((signal.SIGTERM,), 143),
    ((signal.SIGINT, signal.SIGINT), 130),
    ((signal.SIGTERM, signal.SIGTERM, signal.SIGINT), 143),
])
def test_stopping_apply_finishes_the_node_in_flight(server, signals, code):
    """Fails when SIGTERM, or a second Ctrl-C, stops apply --all without
    its summary or with a node left partial."""
    nodes = _fleet(server, 12)
    proc = _stopped_in_flight(server, signals)
    out, err = proc.communicate(timeout=300)
    assert server.proxy is not None
    server.proxy.before_forward_body = None
    assert proc.returncode == code, out + err
    assert 'Traceback' not in err
    assert 'rerun the same command to go on' in err
    if len(signals) > 1:
        assert 'still finishing the nodes in flight' in err
    assert 'not started' in out  # the summary, with the nodes left
    states = server.states()
    assert 'partial' not in states.values(), states
    done = [n for n, s in states.items() if s == 'pivoted']
    assert 1 <= len(done) < len(nodes)
    rerun = server.run('apply', '--all', '--yes')
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert set(server.states().values()) == {'pivoted'}


def test_status_says_how_to_finish_an_interrupted_pivot(server):
    """Fails when status does not mark a pre-image with no result (the
    process killed after it) as an interrupted pivot, with the command
    that finishes it."""
    name, _, vms = server.node()
    before = seed.totals(server.adapter, vms)
    proc = subprocess.Popen(
        [SCRIPT, 'apply', name, '--yes', *server.access, '--layouts',
         str(server.layouts), '--state-dir', str(server.state)], cwd=ROOT,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)

    def kill(method: str, path: str, body: bytes) -> None:
        # The reshape itself, not the policy probe (an empty body).
        if path.endswith('/reshaper') and b'inventories' in body:
            os.kill(proc.pid, signal.SIGKILL)

    assert server.proxy is not None
    server.proxy.before_forward_body = kill
    proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL
    server.proxy.before_forward_body = None
    status = server.run('status', name)
    assert status.returncode == 0, status.stdout + status.stderr
    assert 'pre-image (interrupted)' in status.stdout
    text = ' '.join(status.stdout.split())
    assert f'The last apply of {name} was interrupted' in text
    assert f'nested-pivot apply {name} --config-file' in text
    document = json.loads(server.run('status', name, '--json').stdout)
    assert document['interrupted']['operation'] == 'apply'
    finish = server.run('apply', name, '--yes')
    assert finish.returncode == 0, finish.stdout + finish.stderr
    assert server.states()[name] == 'pivoted'
    assert seed.totals(server.adapter, vms) == before
    assert '(interrupted)' not in server.run('status', name).stdout


# -- B8-B10: the layout file -------------------------------------------------

BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
layouts:
  - match: "x-*"
    children: [{name: *g}]
"""


def _limited() -> None:
    """At most 2 GiB of memory: a bomb fails instead of taking the
    machine."""
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def test_a_yaml_alias_bomb_is_one_short_line(sqlite):
    """Fails when an alias bomb puts megabytes into one error line, or
    runs out of memory."""
    bomb = sqlite.tmp / 'bomb.yaml'
    bomb.write_text(BOMB)
    proc = subprocess.run(
        [SCRIPT, 'check', *sqlite.access, '--layouts', str(bomb)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
        stdin=subprocess.DEVNULL, preexec_fn=_limited, check=False)
    one_line_error(proc)
    assert len(proc.stderr) < 1000, len(proc.stderr)
    assert str(bomb) in proc.stderr
    assert 'aliases repeat more than 10000 nodes' in proc.stderr


@pytest.mark.parametrize('children,where,reason', [
    ('[{name: N0, traits: [[HW_NUMA_ROOT]]}]',
     'layouts[0].children[0].traits[0]', "not ['HW_NUMA_ROOT']"),
    ('[{name: N0, traits: [{a: 1}]}]', 'layouts[0].children[0].traits[0]',
     "not {'a': 1}"),
    ('[{name: N0, inventory: {1: 2, VCPU: 3}}]',
     'layouts[0].children[0].inventory', 'not 1'),
    ('[{name: [N0]}]', 'layouts[0].children[0].name', "not ['N0']"),
    ('[{name: N0, inventory: {VCPU: {total: 1:30}}}]',
     'layouts[0].children[0]', "total must be an integer in "
                               "0..2147483647, not '1:30'"),
    ('[{name: N0, inventory: {VCPU: {total: 010}}}]',
     'layouts[0].children[0]', "not '010'"),
    ('[{name: N0, inventory: {VCPU: {total: 0x10}}}]',
     'layouts[0].children[0]', "not '0x10'"),
    ('[{name: N0, inventory: {VCPU: {total: 8, allocation_ratio: .inf}}}]',
     'layouts[0].children[0]', "not '.inf'"),
])
def test_a_malformed_value_is_named_by_its_path(sqlite, children, where,
                                                reason):
    """Fails when a malformed value in a layout file is a raw exception,
    or its error does not name the file and the path of the value; or
    when a number that is not a plain integer (YAML 1.1's 1:30, 010, 0x10)
    is read as one."""
    bad = sqlite.tmp / 'bad.yaml'
    bad.write_text(f'layouts:\n  - match: "x-*"\n    children: {children}\n')
    for command in ('check', 'status'):
        args = (command,) if command == 'check' else (command, 'x-1')
        proc = sqlite.run(*args, layouts=bad)
        one_line_error(proc)
        assert f'error: {bad}: {where}: ' in proc.stderr, proc.stderr
        assert reason in proc.stderr, proc.stderr


def test_the_yaml_merge_key_works(sqlite):
    """Fails when the merge key << is refused ("could not determine a
    constructor"), or when a key given twice is no longer an error."""
    name, _, _ = sqlite.node()
    merged = sqlite.tmp / 'merged.yaml'
    merged.write_text(f"""\
cell: &cell
  inventory:
    VCPU: {{total: 8, allocation_ratio: 2.0}}
    MEMORY_MB: {{total: 8192}}
  traits: [HW_NUMA_ROOT]
layouts:
  - match: "{sqlite.prefix}-*"
    children:
      - <<: *cell
        name: NUMA0
      - <<: *cell
        name: NUMA1
""")
    plan = sqlite.run('plan', name, '--json', layouts=merged)
    assert plan.returncode == 0, plan.stderr
    after = {p['name']: p
             for p in json.loads(plan.stdout)['nodes'][0]['after']}
    assert after[f'{name}_NUMA1']['inventory']['VCPU']['total'] == 8
    twice = sqlite.tmp / 'twice.yaml'
    twice.write_text(merged.read_text().replace(
        '        name: NUMA1\n', '        name: NUMA1\n        name: N2\n'))
    proc = sqlite.run('check', layouts=twice)
    one_line_error(proc)
    assert "key 'name' is given twice" in proc.stderr


# -- B11, B12: names Placement's databases refuse, or take for one ----------

@pytest.mark.parametrize('bad_name,problem', [
    ('"\\ud83d"', 'lone surrogate'),
    ('"N\\0"', 'NUL character'),
    ('"N\\e[31m"', 'control character'),
])
@pytest.mark.every_backend(
    "the database's charset")
def test_a_name_no_database_can_store_is_refused(where, bad_name, problem):
    """Fails when a child name with a lone surrogate or a NUL crashes
    apply, status or check (UnicodeEncodeError), reaches Placement (HTTP
    500 on PostgreSQL), or writes anything."""
    name, root, vms = where.node()
    bad = where.tmp / 'bad.yaml'
    bad.write_text(layout(where.prefix).replace('name: NUMA1',
                                                f'name: {bad_name}'))
    before = seed.dump(where.adapter, root, vms)
    for args in (('apply', name, '--yes'), ('status', name), ('check',),
                 ('plan', name)):
        proc = where.run(*args, layouts=bad)
        one_line_error(proc)
        assert 'layouts[0].children[1].name' in proc.stderr
        assert problem in proc.stderr
    assert seed.dump(where.adapter, root, vms) == before


@pytest.mark.parametrize('first,second', [
    ('NUMA0', 'numa0'), ('café', 'cafe'), ('pf0', '"pf0 "')])
@pytest.mark.every_backend(
    "the database's collation")
def test_two_names_a_database_takes_for_one_are_refused(where, first,
                                                        second):
    """Fails when two children whose names MariaDB's collation takes for
    one (case, accents, trailing spaces) are not refused before anything
    is written: on MariaDB they were retried six times as a "concurrent
    update" and the node left partial."""
    name, root, vms = where.node()
    twins = where.tmp / 'twins.yaml'
    twins.write_text(layout(where.prefix).replace(
        'name: NUMA0', f'name: {first}').replace('name: NUMA1',
                                                 f'name: {second}'))
    before = seed.dump(where.adapter, root, vms)
    proc = where.run('apply', name, '--yes', layouts=twins)
    one_line_error(proc)
    assert 'layouts[0].children[1].name' in proc.stderr
    assert 'MariaDB takes them for one name' in proc.stderr
    assert seed.dump(where.adapter, root, vms) == before


@pytest.mark.every_backend(
    "the database's unique constraints and their errors")
def test_a_uuid_taken_elsewhere_is_named_not_retried(where):
    """Fails when a child whose fixed uuid another provider holds is
    retried as a concurrent update ("kept changing"), or leaves anything
    behind."""
    other, other_root, _ = where.node('other', vms=1)
    name, root, vms = where.node()
    where.layouts.write_text(layout(
        where.prefix, uuids=(str(uuidlib.uuid4()), other_root)))
    before = seed.dump(where.adapter, root, vms)
    if where.proxy is not None:
        where.proxy.clear_log()
    proc = where.run('apply', name, '--yes')
    assert proc.returncode == 2, proc.stdout + proc.stderr
    text = ' '.join(_rows(proc, name)[name].split())
    assert (f'its uuid {other_root} is taken by provider {other} '
            f'({other_root}, a root provider)') in text
    assert 'kept changing' not in text
    assert seed.dump(where.adapter, root, vms) == before
    if where.proxy is not None:
        assert where.proxy.count('POST', '/resource_providers') == 0


@pytest.mark.every_backend(
    "the database's collation")
def test_a_name_taken_under_the_collation_is_named(where):
    """Fails when a child whose name differs only in case from another
    node's provider is retried as a concurrent update on MariaDB (whose
    unique index takes the two for one) instead of being named; where the
    database tells the two apart, the pivot is applied."""
    name, root, vms = where.node()
    foreign = seed.flat_node(where.adapter, f'{name}_numa1',
                             {'DISK_GB': {'total': 1}})
    proc = where.run('apply', name, '--yes')
    row = ' '.join(_rows(proc, name)[name].split())
    if where.kind != 'mariadb':
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert (f"the database takes the name for '{name}_numa1' (they differ "
            f'only in case, accents or trailing spaces), by provider '
            f'{foreign}') in row
    assert 'kept changing' not in row
    assert where.children(root) == [] and _on_root(where, root, vms)


# -- B13: hints that match nothing -------------------------------------------

def test_hints_that_can_never_apply_are_warned_about(sqlite):
    """Fails when hints keyed by a node the rule cannot match (a typo),
    or naming the root, are ignored without a word."""
    name, _, vms = sqlite.node()
    hinted = sqlite.tmp / 'hinted.yaml'
    hinted.write_text(layout(sqlite.prefix) + f"""\
    hints:
      {sqlite.prefix.replace('r2', 'r3')}-a: {{"{vms[0]}": NUMA0}}
      {name}: {{"{vms[1]}": {name}}}
""")
    proc = sqlite.run('check', layouts=hinted)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    warnings = [line for line in proc.stderr.splitlines()
                if line.startswith('nested-pivot: warning:')]
    assert len(warnings) == 2, proc.stderr
    assert (f"{hinted}: layouts[0].hints.'{sqlite.prefix.replace('r2', 'r3')}"
            f"-a': the rule matches '{sqlite.prefix}-*'") in warnings[0]
    assert (f"layouts[0].hints.'{name}'.'{vms[1]}': names the root, "
            f'{name}') in warnings[1]


# -- B14: an unreachable --placement-db --------------------------------------

UNREACHABLE = 'mysql+pymysql://placement@127.0.0.1:9/placement'


def test_an_unreachable_database_says_what_it_waits_for(tmp_path):
    """Fails when an unreachable --placement-db is 100 s of silence: on a
    terminal the command says what it waits for, the wait is
    --placement-db-wait (short by default), and the error says how long
    it waited."""
    layouts = tmp_path / 'l.yaml'
    layouts.write_text(layout('x'))
    started = time.monotonic()
    proc = cli('check', '--placement-db', UNREACHABLE, '--layouts',
               str(layouts))
    assert time.monotonic() - started < 60
    one_line_error(proc)
    assert '(waited 10 s; --placement-db-wait SECONDS waits longer)' in \
        proc.stderr
    main, other = pty.openpty()
    try:
        with subprocess.Popen(
                [SCRIPT, 'check', '--placement-db', UNREACHABLE,
                 '--placement-db-wait', '3', '--layouts', str(layouts)],
                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=other) as waiting:
            os.close(other)
            seen = b''
            while True:
                try:
                    chunk = os.read(main, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
            waiting.wait(timeout=120)
    finally:
        os.close(main)
    text = seen.decode(errors='replace')
    assert waiting.returncode == 255, text
    assert 'Waiting for the placement database 127.0.0.1:9' in text
    assert "Can't connect to MySQL server" in text
    assert '(waited 3 s;' in text


# -- B15: a tampered journal entry --------------------------------------------

def test_a_tampered_journal_entry_names_the_field(sqlite):
    """Fails when a pre-image whose provider lacks "parent" gives a raw
    KeyError instead of naming the file and the field."""
    name, root, _ = sqlite.node()
    assert sqlite.run('apply', name, '--yes').returncode == 0
    entry = next((sqlite.state / root).glob('*-pre-image.json'))
    body = json.loads(entry.read_text())
    del body['tree'][0]['parent']
    entry.write_text(json.dumps(body))
    back = sqlite.run('rollback', name, '--yes')
    one_line_error(back)
    assert f'Journal {entry}: field "tree[0].parent" is missing' in \
        back.stderr
    status = sqlite.run('status', name)
    assert status.returncode == 0 and 'field "tree[0].parent"' in \
        status.stdout


# -- B16: discover, a crafted cpulist ----------------------------------------

def test_a_huge_cpulist_is_refused(tmp_path):
    """Fails when discover --sysfs expands a crafted cpulist range
    without bound (it ran out of memory)."""
    node = tmp_path / 'sys' / 'devices' / 'system' / 'node' / 'node0'
    node.mkdir(parents=True)
    (node / 'cpulist').write_text('0-4294967295\n')
    (node / 'meminfo').write_text('Node 0 MemTotal: 1048576 kB\n')
    proc = subprocess.run(
        [SCRIPT, 'discover', '--sysfs', str(tmp_path / 'sys'),
         '--hostname', 'h'], capture_output=True, text=True, timeout=120,
        cwd=ROOT, stdin=subprocess.DEVNULL, preexec_fn=_limited,
        check=False)
    one_line_error(proc)
    assert f'{node / "cpulist"}: malformed' in proc.stderr
    assert 'names CPU 4294967295; a host has at most 65536 CPUs' in \
        proc.stderr


# -- B11, B12 through the library: pivot() against each backend -------------

@pytest.mark.parametrize('children,problem', [
    ((Child('N\0', inventory={'VCPU': 8}),), 'NUL character'),
    ((Child('NUMA0', inventory={'VCPU': 8}),
      Child('numa0', inventory={'MEMORY_MB': 8192})),
     'MariaDB takes them for one name'),
])
@pytest.mark.every_backend(
    "the database's charset and collation")
def test_pivot_refuses_such_names_before_writing(placement, children,
                                                 problem):
    """Fails when pivot() sends a name some database cannot store, or two
    it takes for one, to Placement (HTTP 500 on PostgreSQL, a "concurrent
    update" retried on MariaDB)."""
    name, root, vms = two_socket_host(placement, 2)
    before = seed.dump(placement, root, vms)
    with pytest.raises(exception.InvalidLayout, match=problem):
        nested_pivot.pivot(client_for(placement), name, Layout(children))
    assert seed.dump(placement, root, vms) == before


@pytest.mark.every_backend(
    "the database's unique constraints and their errors")
def test_a_uuid_taken_during_the_pivot_is_named_not_retried(http,
                                                            fault_proxy):
    """Fails when a 409 on a child's creation that no writer of the node
    caused (its uuid taken elsewhere meanwhile) is retried as a
    concurrent update and reported as "kept changing"."""
    name, root, vms = two_socket_host(http, 2)
    elsewhere = seed.unique('elsewhere')

    def take(method: str, path: str, body: bytes) -> None:
        if method == 'POST' and path == '/resource_providers' and \
                not fault_proxy.hook_errors:
            uuid = json.loads(body)['uuid']
            seed.call(http, 'POST', '/resource_providers',
                      {'name': elsewhere, 'uuid': uuid})
            fault_proxy.before_forward_body = None

    fault_proxy.before_forward_body = take
    client = PlacementClient(harness.http_placement(fault_proxy.url),
                             backoff=0.01)
    with pytest.raises(exception.ProviderUuidClash,
                       match=f'is taken by provider {elsewhere}') as err:
        nested_pivot.pivot(client, name, TWO_SOCKETS)
    assert err.value.code == errors.PROVIDER_UUID_CLASH
    # Found after Placement refused the POST: its 409 is the status.
    assert err.value.status == 409
    assert not fault_proxy.hook_errors
    assert fault_proxy.count('POST', '/resource_providers') == 1
    assert fault_proxy.count('POST', '/reshaper') == 0
    assert _on_root_of(http, root, vms)


def _on_root_of(adapter: Any, root: str, vms: list[str]) -> bool:
    return all(set(seed.allocations(adapter, vm)['allocations']) == {root}
               for vm in vms)
