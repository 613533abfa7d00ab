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

"""What a new operator meets: help, states of nodes that need attention,
what a request really did, the journal, access errors and exit codes,
through the real console script against a real Placement."""

from __future__ import annotations

import json
import os
import pty
import subprocess

import pytest

from nested_pivot.cmd.codes import Code
from nested_pivot.cmd.codes import MEANING
from tests import doc_sources
from tests.functional.test_cli import cli
from tests.functional.test_cli import Fleet
from tests.functional.test_cli import one_line_error
from tests.functional.test_cli import ROOT
from tests.functional.test_cli import SCRIPT
from tests.functional.test_cli import seed_offline
from tests.functional.test_cli import sqlite_url
from tests.functional.test_cli_hardening import small  # noqa: F401

COMMANDS = ('check', 'plan', 'apply', 'request', 'rollback', 'status',
            'discover', 'audit')


@pytest.mark.parametrize('command', ['', *COMMANDS])
def test_every_help_works(command):
    proc = cli(*([command] if command else []), '--help')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith('usage: nested-pivot')
    assert 'Traceback' not in proc.stderr
    if not command:
        for code in Code:
            assert f'{int(code):<4} {MEANING[code][:30]}' in ' '.join(
                proc.stdout.split('\n'))


def test_audit_says_what_it_needs(tmp_path):
    """Fails when audit runs without nodes or without nova, or says so in
    anything but one line that names the fix (this env has no nova)."""
    usage = cli('audit', '--nova-db', f'sqlite:///{tmp_path}/n.db')
    assert usage.returncode == 64, usage.stderr
    assert 'name the nodes to audit, or give --all' in usage.stderr
    both = cli('audit', 'n1', '--all', '--nova-db', 'sqlite://')
    assert both.returncode == 64, both.stderr
    without = cli('audit', '--all', '--nova-db', f'sqlite:///{tmp_path}/n.db',
                  '--placement-db', f'sqlite:///{tmp_path}/p.db')
    one_line_error(without)
    assert 'nested_pivot[nova]' in without.stderr
    help_text = ' '.join(cli('audit', '--help').stdout.split())
    for state in ('deleted', 'unknown', 'elsewhere', 'stale_migration',
                  'busy'):
        assert state in help_text


def test_check_help_lists_every_state_and_version_is_known():
    text = cli('check', '--help').stdout
    for state in ('flat', 'partial', 'requested', 'pivoted',
                  'not_applicable', 'cannot_pivot', 'double_counted'):
        assert state in text
    version = cli('--version')
    assert version.returncode == 0
    assert version.stdout.startswith('nested-pivot ')


def test_status_and_plan_of_a_node_that_cannot_be_pivoted(small):  # noqa: F811
    status = small.run('status', 'h-tight-000')
    assert status.returncode == 2, status.stdout + status.stderr
    assert 'h-tight-000' in status.stdout and 'cannot_pivot' in status.stdout
    assert '3 consumers would move' in status.stdout
    plan = small.run('plan', 'h-tight-000')
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert 'Node h-tight-000 now:' in plan.stdout and '[' in plan.stdout
    assert 'do not fit' in plan.stdout or 'does not fit' in plan.stdout
    assert 'free room per child' in plan.stdout
    assert 'h-tight-000_NUMA0: MEMORY_MB=7168 VCPU=1' in plan.stdout
    document = json.loads(small.run('plan', 'h-tight-000',
                                    '--json').stdout)['nodes'][0]
    assert document['state'] == 'cannot_pivot'
    assert document['unfit'] and all(
        u['needs'] and u['free'] for u in document['unfit'])
    assert document['before'][0]['name'] == 'h-tight-000'


def test_status_and_plan_of_a_node_no_rule_matches(small):  # noqa: F811
    for command in ('status', 'plan'):
        proc = small.run(command, 'h-plain-003')
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert 'not_applicable' in proc.stdout
    document = json.loads(small.run('plan', 'h-plain-003',
                                    '--json').stdout)['nodes'][0]
    assert document['state'] == 'not_applicable'


def test_check_rows_of_unfit_nodes_are_short_and_counted(small):  # noqa: F811
    document = json.loads(small.run('check', '--json').stdout)
    row = next(n for n in document['nodes'] if n['node'] == 'h-tight-000')
    assert row['state'] == 'cannot_pivot' and row['consumers'] == 3
    assert row['moves'] == {'VCPU': 9, 'MEMORY_MB': 3072}
    assert len(row['reason']) < 160 and 'largest' in row['reason']
    assert len(row['unfit']) >= 1
    table = small.run('check')
    assert max(map(len, table.stdout.splitlines())) < 200
    assert 'nodes checked' in table.stderr


def test_request_says_what_happened(small):  # noqa: F811
    flat = 'h-gpu-002'
    said = [(small.run('request', flat), 0, 'pivot requested'),
            (small.run('request', flat), 1, 'already requested'),
            (small.run('request', 'h-plain-003'), 1, 'no layout rule'),
            (small.run('request', '--cancel', flat), 0, 'withdrawn'),
            (small.run('request', '--cancel', flat), 1, 'no request to '
                                                        'withdraw')]
    assert small.run('apply', 'h-numa-000', '--yes').returncode == 0
    said.append((small.run('request', 'h-numa-000'), 1, 'already pivoted'))
    for proc, code, words in said:
        assert (proc.returncode, words in proc.stdout) == (code, True), \
            proc.stdout + proc.stderr


def test_the_journal_says_what_wrote_each_entry(tmp_path):
    url = seed_offline(sqlite_url(tmp_path / 'p.db'), 'o', 1)
    f = Fleet(tmp_path, 'o', ['--placement-db', url])
    assert f.run('apply', 'o-numa-000', '--yes').returncode == 0
    assert f.run('rollback', 'o-numa-000', '--yes').returncode == 0
    status = f.run('status', 'o-numa-000')
    rows = [line.split() for line in status.stdout.splitlines()
            if line.endswith('.json')]
    assert [(r[1], r[2]) for r in rows] == [
        ('apply', 'pre-image'), ('apply', 'result'),
        ('rollback', 'pre-image'), ('rollback', 'result')]
    assert '1 provider,' not in status.stdout.replace('1 provider\n', '')
    assert '1 providers' not in status.stdout
    journal = json.loads(f.run('status', 'o-numa-000', '--json').stdout)
    for entry in journal['journal']:
        assert entry['user'] and entry['version'] and entry['operation']


def test_access_errors_say_what_to_do(tmp_path, small):  # noqa: F811
    layouts = ['--layouts', str(small.layouts)]
    none = cli('check', *layouts)
    one_line_error(none)
    assert '--config-file' in none.stderr and '--placement-db' in none.stderr
    missing = tmp_path / 'missing.db'
    proc = cli('check', '--placement-db', f'sqlite:///{missing}', *layouts)
    one_line_error(proc)
    assert 'no such SQLite database file' in proc.stderr
    assert not missing.exists()
    conf = tmp_path / 'nova.conf'
    conf.write_text('[placement]\nauth_type = password\n'
                    'auth_url = http://127.0.0.1:9/v3\nusername = nova\n'
                    'password = secret\nproject_name = service\n'
                    'user_domain_name = Default\n'
                    'project_domain_name = Default\n')
    keystone = cli('check', '--config-file', str(conf), *layouts)
    one_line_error(keystone)
    assert 'Authentication at http://127.0.0.1:9/v3' in keystone.stderr
    assert 'secret' not in keystone.stderr
    conf.write_text('[placement]\nauth_type = admin_token\n'
                    'endpoint = http://127.0.0.1:9\ntoken = admin\n'
                    '[nested_pivot]\nmax_retries = 0\n')
    refused = cli('check', '--config-file', str(conf), *layouts)
    one_line_error(refused)
    assert 'http://127.0.0.1:9' in refused.stderr
    assert 'unavailable' in refused.stderr


def test_declining_exits_3_and_says_so(small):  # noqa: F811
    no_terminal = small.run('apply', 'h-sriov-001')
    assert no_terminal.returncode == Code.DECLINED
    assert 'give --yes' in no_terminal.stderr
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [SCRIPT, 'rollback', 'h-sriov-001', *small.access, '--layouts',
         str(small.layouts), '--state-dir', str(small.state)],
        stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        cwd=ROOT, text=True)
    os.write(controller, b'n\n')
    out, err = proc.communicate(timeout=300)
    os.close(controller)
    os.close(terminal)
    assert proc.returncode == Code.DECLINED, out + err
    assert 'not confirmed' in err and 'nothing was changed' in err


def test_small_gaps(small):  # noqa: F811
    assert small.run('apply', 'h-sriov-001', '--yes').returncode == 0
    child = small.run('plan', 'h-sriov-001_pf0')
    one_line_error(child, Code.USAGE)  # issue 22: unknown nodes are usage
    assert 'child provider of node h-sriov-001' in child.stderr
    dry = small.run('rollback', 'h-sriov-001', '--dry-run')
    assert dry.returncode == 0 and 'Dry run' in dry.stdout
    status = json.loads(small.run('status', 'h-sriov-001',
                                  '--json').stdout)
    assert status['state'] == 'pivoted'


def test_the_guides_exit_code_table_is_complete():
    """Fails when an exit code is added, removed or reworded without the
    operator guide's table: the table is generated from MEANING by the
    docs' ``nested-pivot-exit-codes`` directive, which the guide's "Exit
    codes" section must include, and whose rows must be every code with
    its meaning."""
    exits = doc_sources.section(doc_sources.OPERATOR_GUIDE, 'Exit codes')
    assert '\n.. nested-pivot-exit-codes::\n' in exits
    table = doc_sources.extension().exit_code_table()
    cells = [line.lstrip().split('- ', 1)[1] for line in table
             if line.lstrip().startswith(('* - ', '- '))]
    assert cells[:2] == ['code', 'meaning']
    rows = {int(code.strip('`')): meaning
            for code, meaning in zip(cells[2::2], cells[3::2], strict=True)}
    assert rows == {int(code): MEANING[code] for code in Code}
