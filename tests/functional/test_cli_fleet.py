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

"""The operator's fleet workflow through the console script, against real
Placement (offline over SQLite, PostgreSQL and MariaDB databases, online
through each server): one node selection for plan, apply, rollback,
request and check; one convention for unknown nodes; prompts that say
what they will change; one JSON shape per command; logs."""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import io
import json
import os
from pathlib import Path
import pty
import re
import subprocess
from typing import Any
import uuid as uuidlib

import pytest

from nested_pivot.cmd import apply as apply_cmd
from nested_pivot.cmd import document
from nested_pivot.cmd import main
from nested_pivot.cmd import request as request_cmd
from nested_pivot.cmd import rollback as rollback_cmd
from nested_pivot.cmd.codes import Code
from tests.functional import fleet
from tests.functional import harness
from tests.functional import seed
from tests.functional.test_cli import cli
from tests.functional.test_cli import Fleet
from tests.functional.test_cli import ROOT
from tests.functional.test_cli import SCRIPT
from tests.functional.test_cli import seed_offline
from tests.functional.test_cli import sqlite_url

COUNT = 8
"""numa-000, sriov-001, gpu-002, plain-003, numa-004, ..., plain-007,
and tight-900 (whose instances do not fit its cells)."""
OFFLINE = ('offline-sqlite', *(f'offline-{b}' for b in harness.BACKENDS))
ONLINE = tuple(f'online-{b}' for b in harness.BACKENDS)
CHEAP = ('offline-sqlite', *ONLINE)
"""A private SQLite database, and each server: where a test's backend
matters no more than Placement's API does."""


class Small(Fleet):
    """A fleet of its own, for one test: offline over a database of its
    own, or online under a prefix of its own on a shared server.

    Online, :meth:`run` runs the command in this process (``main``),
    which proves as much as a subprocess there and costs far less;
    offline, in a subprocess, where Placement runs in the command.
    """

    def __init__(self, tmp: Path, prefix: str, access: list[str],
                 online: bool, aggregate: str) -> None:
        super().__init__(tmp, prefix, access)
        self.online = online
        self.aggregate = aggregate

    def run(self, *args: str) -> subprocess.CompletedProcess:
        if not self.online:
            return super().run(*args)
        argv = [*args, *self.access, '--layouts', str(self.layouts),
                '--state-dir', str(self.state)]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(err):
            try:
                code = main.main(argv)
            except SystemExit as exit_:
                code = int(exit_.code or 0)
        return subprocess.CompletedProcess(argv, code, out.getvalue(),
                                           err.getvalue())

    def names(self, *shapes: str) -> list[str]:
        """The fleet's nodes of these shapes, in name order."""
        return sorted(f'{self.prefix}-{shape}-{i:03d}'
                      for i in range(COUNT) for shape in shapes
                      if fleet.SHAPES[i % len(fleet.SHAPES)] == shape)

    def json(self, *args: str, code: int | None = None) -> dict[str, Any]:
        proc = self.run(*args, '--json')
        if code is not None:
            assert proc.returncode == code, proc.stdout + proc.stderr
        found: dict[str, Any] = json.loads(proc.stdout)
        assert found['exit'] == proc.returncode
        return found

    def root_traits(self, node: str) -> set[str]:
        """The traits of the node's root, as Placement holds them."""
        plan = self.json('plan', node)['nodes'][0]
        return set(next(p['traits'] for p in plan['before']
                        if p['parent'] is None))


@contextlib.contextmanager
def small_fleet(kind: str, tmp: Path, servers: Any) -> Iterator[Small]:
    """``COUNT`` nodes, tight-900, and the numa nodes in an aggregate of
    their own (``Small.aggregate``)."""
    where, _, backend = kind.partition('-')
    prefix = seed.unique('fl')
    aggregate = str(uuidlib.uuid4())
    extra = (f'tight={prefix}-tight-900',
             f'aggregate={aggregate}:{prefix}-numa-*')
    with contextlib.ExitStack() as stack:
        if where == 'offline':
            if backend == 'sqlite':
                url = sqlite_url(tmp / 'placement.db')
            else:
                server = servers.get(backend)
                if server.db is None:
                    pytest.skip(f'no database URL for the {backend} server')
                url = harness.create_database(
                    server.db, f'np_fleet_{uuidlib.uuid4().hex[:12]}')
                stack.callback(harness.drop_database, url)
            seed_offline(url, prefix, COUNT, *extra)
            yield Small(tmp, prefix, ['--placement-db', url], False,
                        aggregate)
            return
        url = servers.get(backend).url
        adapter = harness.http_placement(url)
        fleet.fleet(adapter, prefix, COUNT)
        fleet.node(adapter, f'{prefix}-tight-900', 'tight')
        fleet.aggregate(adapter, aggregate, f'{prefix}-numa-*')
        for root in fleet.roots(adapter, prefix):
            seed.mark_hook(adapter, root)  # their computes run the hook
        proxy = stack.enter_context(harness.FaultProxy(url))
        proxy.set_headers = {'X-Roles': 'admin,service'}
        conf = harness.nova_conf(tmp / 'nova.conf', proxy.url)
        found = Small(tmp, prefix, ['--config-file', str(conf)], True,
                      aggregate)
        found.adapter = adapter  # type: ignore[attr-defined]
        found.proxy = proxy  # type: ignore[attr-defined]
        yield found


@pytest.fixture(params=[*OFFLINE, *ONLINE])
def every(request, tmp_path, placement_servers) -> Iterator[Small]:
    """A small fleet on each kind of Placement."""
    with small_fleet(request.param, tmp_path, placement_servers) as found:
        yield found


@pytest.fixture(params=CHEAP)
def small(request, tmp_path, placement_servers) -> Iterator[Small]:
    with small_fleet(request.param, tmp_path, placement_servers) as found:
        yield found


@pytest.fixture
def sqlite(tmp_path, placement_servers) -> Iterator[Small]:
    with small_fleet('offline-sqlite', tmp_path, placement_servers) as found:
        yield found


def _ours(f: Small, states: dict[str, str]) -> dict[str, str]:
    return {n: s for n, s in states.items() if n.startswith(f.prefix + '-')}


# -- items 17 and 18: the same node selection for plan, apply, rollback ----

def test_plan_apply_and_rollback_take_the_same_selection(every):
    """Fails when plan or rollback take one node only, when a quoted
    glob pattern does not select the nodes whose names it matches, or
    when a selection touches a node it does not name."""
    f, p = every, every.prefix
    before = f.check()['states']
    planned = f.json('plan', f'{p}-numa-*', f'{p}-sriov-001', code=0)
    assert [n['node'] for n in planned['nodes']] == [
        f'{p}-numa-000', f'{p}-numa-004', f'{p}-sriov-001']
    assert all(n['moves'] and not n['noop'] and n['state'] == 'flat'
               for n in planned['nodes'])
    whole = f.run('plan', f'{p}-*')
    assert whole.returncode == 2, whole.stdout + whole.stderr
    assert f'{p}-tight-900 cannot be pivoted' in whole.stdout
    assert '7 nodes planned: 1 cannot_pivot, 6 flat.' in whole.stdout
    assert f.check()['states'] == before  # plans change nothing

    applied = f.run('apply', f'{p}-numa-*', f'{p}-sriov-*', '--yes')
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert '4 done, 0 already pivoted, 0 failed' in applied.stdout
    states = _ours(f, f.check()['states'])
    assert {n for n, s in states.items() if s == 'pivoted'} == set(
        f.names('numa', 'sriov'))

    dry = f.run('rollback', f'{p}-*', '--dry-run')
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert 'nested-pivot rollback' in dry.stdout
    assert _ours(f, f.check()['states']) == states
    # Offline the database is this test's: --all is its fleet.
    selection = [f'{p}-*'] if f.online else ['--all']
    back = f.json('rollback', *selection, '--yes', code=0)
    results = {n['node']: n['result'] for n in back['nodes']}
    assert {n for n, r in results.items() if r == 'rolled back to flat'} \
        == set(f.names('numa', 'sriov'))
    assert {r for n, r in results.items()
            if '-numa-' not in n and '-sriov-' not in n} == {'already flat'}
    assert back['counts']['rolled back to flat'] == 4
    assert _ours(f, f.check()['states']) == _ours(f, before)


def test_aggregate_and_patterns_narrow_the_selection(small):
    """Fails when --aggregate does not keep exactly the nodes of
    Placement's aggregate, or when an aggregate, a pattern or a name that
    selects nothing is not a usage error that changes nothing."""
    f, p = small, small.prefix
    checked = f.json('check', '--aggregate', f.aggregate)
    assert [n['node'] for n in checked['nodes']] == f.names('numa')
    applied = f.run('apply', '--all', '--aggregate', f.aggregate, '--yes')
    assert applied.returncode == 0, applied.stdout + applied.stderr
    states = _ours(f, f.check()['states'])
    assert {n for n, s in states.items() if s == 'pivoted'} == set(
        f.names('numa'))
    # A node named and not in the aggregate is left out, and said so.
    narrowed = f.json('plan', f'{p}-gpu-002', f'{p}-numa-000',
                      '--aggregate', f.aggregate, code=0)
    assert [n['node'] for n in narrowed['nodes']] == [f'{p}-numa-000']
    assert narrowed['warnings'] == [
        f'{p}-gpu-002: not in aggregate {f.aggregate}; left out']
    for args, words in (
            (('apply', '--all', '--yes', '--aggregate',
              str(uuidlib.uuid4())), 'no compute node in aggregate'),
            (('apply', f'{p}-nothing-*', '--yes'),
             'matches no compute node'),
            (('check', f'{p}-numa-*', f'{p}-x', '--aggregate', f.aggregate),
             f'{p}-x')):
        proc = f.run(*args)
        assert proc.returncode == Code.USAGE, proc.stdout + proc.stderr
        assert words in proc.stderr and 'Nothing was changed' in \
            proc.stderr
    assert _ours(f, f.check()['states']) == states


# -- item 19: request checks its nodes -------------------------------------

def test_request_refuses_a_node_that_cannot_be_pivoted(small):
    """Fails when a node check calls cannot_pivot is requested without
    --force (its nova-compute would then fail to start with
    on_infeasible = fail), or the refusal does not say why."""
    f, tight = small, f'{small.prefix}-tight-900'
    refused = f.run('request', tight)
    assert refused.returncode == Code.FAILURE, refused.stdout
    assert 'cannot be pivoted, so not requested' in refused.stdout
    assert 'does not fit; largest:' in refused.stdout
    assert 'CUSTOM_NESTED_PIVOT_REQUESTED' not in f.root_traits(tight)
    forced = f.run('request', tight, '--force')
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert 'CUSTOM_NESTED_PIVOT_REQUESTED' in f.root_traits(tight)


def test_request_validates_every_node_first(small):
    """Fails when ``request A B nosuch`` requests A before failing."""
    f, p = small, small.prefix
    proc = f.run('request', f'{p}-numa-000', f'{p}-gpu-002', 'nosuch')
    assert proc.returncode == Code.USAGE, proc.stdout + proc.stderr
    assert 'nosuch' in proc.stderr and 'Nothing was changed' in proc.stderr
    # A request shows as the state "requested": there is none.
    assert set(_ours(f, f.check()['states']).values()) == {
        'flat', 'not_applicable', 'cannot_pivot'}


# -- item 20: one convention across commands -------------------------------

@pytest.mark.parametrize('command', [
    ('plan',), ('status',), ('apply', '--yes'), ('rollback', '--yes'),
    ('request',), ('check',)])
def test_an_unknown_node_is_a_usage_error_everywhere(sqlite, command):
    """Fails when an unknown node is not exit 64 with one line naming it
    (and, under --json, the error document) in every command, or when a
    command that writes changed a known node named with it."""
    f = sqlite
    known = f'{f.prefix}-numa-000'
    names = ('nosuch',) if command[0] == 'status' else (known, 'nosuch')
    proc = f.run(command[0], *names, *command[1:])
    assert proc.returncode == Code.USAGE, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('nested-pivot: error:')
    assert 'nosuch' in lines[0]
    error = f.json(command[0], *names, *command[1:], code=Code.USAGE)
    assert set(error) == {*document.ENVELOPE, *document.ERROR}
    assert error['code'] == 'nested_pivot.placement.node_not_found'
    assert f.check()['states'][known] == 'flat'


def test_the_prompt_names_the_nodes_and_the_database(small):
    """Fails when the confirmation names no node, no count and no
    Placement, or lists a long selection whole."""
    f, p = small, small.prefix
    proc = f.run('apply', f'{p}-numa-000', f'{p}-sriov-001')
    assert proc.returncode == Code.DECLINED
    where = (f'Placement at {f.proxy.url}' if f.online  # type: ignore
             else f'the Placement database {f.access[1]}')
    assert (f'Pivot 2 nodes ({p}-numa-000, {p}-sriov-001) in {where}, '
            f'with the layouts of {f.layouts}?') in proc.stderr
    many = f.run('rollback', f'{p}-*')
    assert f'Roll 9 nodes ({p}-gpu-002, ' in many.stderr
    assert 'and 1 more) back to flat in ' in many.stderr
    controller, terminal = pty.openpty()
    asked = subprocess.Popen(
        [SCRIPT, 'rollback', f'{p}-numa-*', *f.access, '--layouts',
         str(f.layouts), '--state-dir', str(f.state)],
        stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        cwd=ROOT, text=True)
    os.write(controller, b'n\n')
    out, err = asked.communicate(timeout=300)
    os.close(controller)
    os.close(terminal)
    assert asked.returncode == Code.DECLINED, out + err
    assert (f'Roll 2 nodes ({p}-numa-000, {p}-numa-004) back to flat in '
            f'{where}') in err


def _shape(found: dict[str, Any], shape_of: str,
           command: str | None = None) -> None:
    shape = document.SHAPES[shape_of]
    assert set(found) == {*document.ENVELOPE, *shape.top}, shape_of
    assert found['command'] == (command or shape_of)
    for entry in found['nodes']:
        assert set(entry) == set(shape.node), (command, entry)


def test_every_json_document_has_its_documented_shape(small):
    """Fails when a command's --json document is not the shape
    nested_pivot.cmd.document documents (the operator guide shows it),
    or when apply's rows lack the nodes' uuids and counts."""
    f, p = small, small.prefix
    numa, tight = f'{p}-numa-000', f'{p}-tight-900'
    checked = f.json('check', f'{p}-*', code=2)
    _shape(checked, 'check')
    uuids = {n['node']: n['uuid'] for n in checked['nodes']}
    _shape(f.json('status', numa, code=0), 'status')
    for node in (numa, tight, f'{p}-plain-003'):
        _shape(f.json('plan', node), 'plan')
    applied = f.json('apply', numa, tight, '--yes', code=2)
    _shape(applied, 'apply')
    assert [(n['node'], n['uuid'], n['result']) for n in applied['nodes']] \
        == [(numa, uuids[numa], 'done'), (tight, uuids[tight], 'failed')]
    assert applied['nodes'][0]['consumers'] == 6
    assert applied['counts'] == {'done': 1, 'already pivoted': 0,
                                 'failed': 1, 'not started': 0}
    _shape(f.json('rollback', numa, '--dry-run', code=0), 'plan',
           'rollback')
    _shape(f.json('rollback', numa, '--yes', code=0), 'rollback')
    _shape(f.json('request', f'{p}-gpu-002', tight, code=2), 'request')
    _shape(json.loads(cli('discover', '--json', '--sysfs',
                          str(ROOT / 'tests/fixtures/sysfs'),
                          '--hostname', numa).stdout), 'discover')


def test_offline_notes_are_warnings_inside_the_document(sqlite):
    """Fails when a note of the command reaches stderr only."""
    f = sqlite
    found = f.json('apply', f'{f.prefix}-gpu-*', '--concurrency', '3',
                   '--yes', code=0)
    assert found['warnings'] == ['Offline, nodes are pivoted one at a '
                                 'time on SQLite, which serves one writer '
                                 'at a time: --concurrency needs a '
                                 'PostgreSQL or MariaDB Placement '
                                 'database.']


# -- item 21: clearer words -------------------------------------------------

def test_a_missing_layout_file_says_how_to_give_layouts(sqlite, tmp_path):
    missing = tmp_path / 'nowhere.yaml'
    proc = cli('check', *sqlite.access, '--layouts', str(missing))
    assert proc.returncode == Code.UNEXPECTED
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(missing) in lines[0]
    assert '--layouts PATH' in lines[0] and '--from-nova' in lines[0]


def test_check_says_its_consumers_are_the_ones_to_move(sqlite):
    table = sqlite.run('check', f'{sqlite.prefix}-numa-000').stdout
    header = next(line for line in table.splitlines()
                  if line.startswith('node '))
    assert re.split(r'\s{2,}', header)[:4] == [
        'node', 'state', 'consumers to move', 'would move']


def test_plan_says_when_no_child_can_hold_an_instance(sqlite):
    """Fails when plan suggests hints for an instance larger than every
    child of its layout, which no hint can place."""
    f, tight = sqlite, f'{sqlite.prefix}-tight-900'
    roomy = f.run('plan', tight)
    assert roomy.returncode == 2
    assert 'hints can place them' in roomy.stdout
    assert 'even when empty' not in roomy.stdout
    # Cells of 2 VCPU: an instance of 3 fits none of them, even empty.
    f.layouts.write_text(f.layouts.read_text().replace(
        'inventory: {VCPU: 4, MEMORY_MB: 8192}',
        'inventory: {VCPU: 2, MEMORY_MB: 8192}'))
    small = f.run('plan', tight)
    assert small.returncode == 2, small.stdout + small.stderr
    said = ' '.join(small.stdout.split())
    assert 'hints can place them' not in said
    assert ('even when empty: hints cannot help. Move them off the node '
            '(cold migration or resize), or give the layout larger '
            'children.') in said


# -- item 22: logs and --help ------------------------------------------------

STAMP = re.compile(r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \d+ [A-Z]+ ')


def test_log_file_with_timestamps_and_oslo_log_options(sqlite, tmp_path):
    """Fails when --log-file is not an option, when its lines have no
    timestamp, when the run's outcome per node is not in it, or when
    oslo.log's options in [DEFAULT] of --config-file are not used."""
    f, node = sqlite, f'{sqlite.prefix}-numa-000'
    log = tmp_path / 'np.log'
    applied = f.run('apply', node, '--yes', '--log-file', str(log))
    assert applied.returncode == 0, applied.stderr
    assert 'INFO' not in applied.stdout + applied.stderr  # a file only
    lines = log.read_text().splitlines()
    assert lines and all(STAMP.match(line) for line in lines), lines
    text = '\n'.join(lines)
    assert f'Node {node} (' in text and 'done: 6 consumers moved' in text
    assert 'nested-pivot apply: exit 0' in text
    conf = tmp_path / 'log.conf'
    conf.write_text('[DEFAULT]\nlogging_default_format_string = '
                    'NP %(levelname)s %(message)s\n'
                    'logging_context_format_string = '
                    'NP %(levelname)s %(message)s\n')
    other = tmp_path / 'dir'
    other.mkdir()
    checked = f.run('check', node, '--config-file', str(conf),
                    '--log-dir', str(other))
    assert checked.returncode == 0, checked.stderr
    written = (other / 'nested-pivot.log').read_text().splitlines()
    assert written and all(line.startswith('NP ') for line in written)


@pytest.mark.parametrize('command,module', [
    ('apply', apply_cmd), ('request', request_cmd),
    ('rollback', rollback_cmd)])
def test_help_has_a_description_paragraph(command, module):
    text = cli(command, '--help').stdout
    paragraphs = text.split('\n\n')
    assert paragraphs[0].startswith(f'usage: nested-pivot {command}')
    def words(text: str) -> str:  # argparse may wrap after a hyphen
        return re.sub(r'-\s+', '-', ' '.join(text.split()))

    assert words(paragraphs[1]) == words(module.DESCRIPTION)
