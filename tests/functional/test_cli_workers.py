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

"""Offline ``apply --concurrency N`` in worker processes, through the real
console script, on a Placement database of its own on each real server's
PostgreSQL and MariaDB: the workers are processes, contended pivots are
re-read and re-planned, the journal, the progress bar and the summary are
those of one worker, and real signals stop it as Ctrl-C stops one."""

from __future__ import annotations

from collections.abc import Iterator
import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from tests.functional import harness
from tests.functional.test_cli import Fleet
from tests.functional.test_cli import ROOT
from tests.functional.test_cli import SCRIPT
from tests.functional.test_cli import seed_offline
from tests.functional.test_cli import sqlite_url

WORKERS = 4


@pytest.fixture(params=harness.BACKENDS)
def server_database(request: pytest.FixtureRequest, placement_servers: Any
                    ) -> Iterator[str]:
    """An empty Placement database on each real server's database."""
    with harness.server_database(placement_servers, request.param,
                                 'np_workers') as url:
        yield url


def contended(url: str, mode: str, prefix: str, *extra: str) -> str:
    proc = subprocess.run(
        [sys.executable, '-m', 'tests.functional.contended', mode, url,
         prefix, *extra], capture_output=True, text=True, cwd=ROOT,
        timeout=600, check=True)
    return proc.stdout


def journal(state: Path) -> dict[str, list[tuple[str, str]]]:
    """Per node (by root uuid): its entries' kind and outcome, in order."""
    found: dict[str, list[tuple[str, str]]] = {}
    for entry in sorted(state.glob('*/*.json')):
        body = json.loads(entry.read_text())
        kind = entry.stem.split('-', 1)[1]
        found.setdefault(entry.parent.name, []).append(
            (kind, body.get('outcome', '')))
    return found


def settled(state: Path) -> dict[str, list[tuple[str, str]]]:
    """:func:`journal`, each node's retried attempts folded into one.

    On MariaDB, reshapes of unrelated nodes can deadlock on InnoDB's gap
    locks; the victim is rolled back whole and its node read, planned and
    recorded again (a second pre-image).  Fails when a retried attempt
    read other consumers or another tree than the first, but for the
    empty children the first made before its reshape: a rolled-back
    attempt must leave nothing else behind.
    """
    found: dict[str, list[tuple[str, str]]] = {}
    for node, entries in journal(state).items():
        first, *later = [
            json.loads(p.read_text())
            for p in sorted((state / node).glob('*-pre-image.json'))]
        for body in later:
            assert left_behind(first, body) == set(), (node, entries)
        found[node] = [e for i, e in enumerate(entries)
                       if e != ('pre-image', '') or i == 0]
    return found


def left_behind(first: dict[str, Any], again: dict[str, Any]) -> set[str]:
    """What a retried attempt's pre-image ``again`` read that the first
    attempt's did not and its children, made empty, do not explain."""
    before = {p.get('uuid'): p for p in first['tree']}
    made = {p['uuid'] for p in first['after'] if p['parent'] is not None}
    found = {f'consumer {c}' for c in set(first['consumers'])
             | set(again['consumers'])
             if first['consumers'].get(c) != again['consumers'].get(c)}
    for p in again['tree']:
        if p.get('uuid') in before:
            if p != before[p.get('uuid')]:
                found.add(f'provider {p["name"]} changed')
        elif p.get('uuid') not in made or p['inventory']:
            found.add(f'provider {p["name"]} appeared')
    return found


def spawned(pid: int) -> set[int]:
    """The worker processes of ``pid`` now: its children that
    multiprocessing spawned."""
    found = set()
    for stat in Path('/proc').glob('[0-9]*/stat'):
        try:
            fields = stat.read_text().rsplit(')', 1)[1].split()
            cmdline = (stat.parent / 'cmdline').read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and b'spawn_main' in cmdline:
            found.add(int(stat.parent.name))
    return found


@pytest.mark.every_backend(
    "worker processes on one database: its locking and generations")
def test_contended_fleet_in_worker_processes(server_database, tmp_path):
    """Every node shares a provider with every other, and neighbours a
    consumer: pivoted by 4 processes at once, nothing is lost."""
    url, count = server_database, 12
    contended(url, 'seed', 'w', str(count))
    before = json.loads(contended(url, 'totals', 'w'))
    f = Fleet(tmp_path, 'w', ['--placement-db', url])
    proc = subprocess.Popen(
        [SCRIPT, 'apply', '--all', '--yes', '--json', '--concurrency',
         str(WORKERS), *f.access, '--layouts', str(f.layouts),
         '--state-dir', str(f.state)], cwd=ROOT, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    workers: set[int] = set()
    while proc.poll() is None:
        workers |= spawned(proc.pid)
        time.sleep(0.05)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, out + err
    assert f'Offline: {WORKERS} worker processes' in err
    assert len(workers) == WORKERS
    document = json.loads(out)
    assert [n['result'] for n in document['nodes']] == ['done'] * count
    assert sum(n['consumers'] for n in document['nodes']) == \
        count * 4 + 2 * (count - 1)
    assert json.loads(contended(url, 'totals', 'w')) == before
    assert set(f.check()['states'].values()) == {'pivoted'}
    # A conflict sends the node back to be read, planned and recorded
    # again: one pre-image per attempt, one result.
    retries = sum(n['retries'] for n in document['nodes'])
    entries = journal(f.state)
    assert len(entries) == count
    assert sum(len(e) for e in entries.values()) == 2 * count + retries
    assert all(e[-1] == ('result', 'done')
               and set(e[:-1]) == {('pre-image', '')}
               for e in entries.values())


def _apply(f: Fleet, *args: str) -> subprocess.CompletedProcess:
    return f.run('apply', '--all', '--yes', *args)


def test_output_and_journal_are_those_of_one_worker(server_database,
                                                    tmp_path):
    """The same fleet twice on one database: once with one worker, once
    with four; the same summary table, progress lines and journal."""
    url = server_database
    seed_offline(url, 'ones', 16)  # names of one length: one table width
    seed_offline(url, 'four', 16)
    runs = {}
    for prefix, concurrency in (('ones', 1), ('four', WORKERS)):
        (tmp_path / prefix).mkdir()
        f = Fleet(tmp_path / prefix, prefix, ['--placement-db', url])
        proc = _apply(f, '--concurrency', str(concurrency))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        runs[prefix] = (proc, f)
    one, four = runs['ones'][0], runs['four'][0]
    assert four.stdout.replace('four-', 'node-') == \
        one.stdout.replace('ones-', 'node-')
    assert '12 done, 0 already pivoted, 0 failed.' in one.stdout
    progress = [[line for line in p.stderr.splitlines() if 'ETA' in line]
                for p in (one, four)]
    assert len(progress[0]) == len(progress[1]) == 12
    assert progress[1][-1].startswith('[') and '12/12 nodes' in \
        progress[1][-1]
    assert [sorted(settled(f.state).values()) for _, f in runs.values()] \
        == [[[('pre-image', ''), ('result', 'done')]] * 12] * 2
    again = _apply(runs['four'][1], '--concurrency', str(WORKERS))
    assert again.returncode == 0
    assert '0 done, 12 already pivoted, 0 failed.' in again.stdout


@pytest.mark.parametrize('to', ['group', 'command'])
@pytest.mark.every_backend(
    "workers stopped mid-transaction: the database's transactions")
def test_interrupted_workers_finish_their_nodes_and_rerun_completes(
        server_database, tmp_path, to):
    """SIGINT to the process group (a Ctrl-C on the terminal) or to the
    command alone: the nodes in flight finish, the summary lists the rest
    as not started, nothing is left half done, and a rerun completes."""
    url = seed_offline(server_database, 'i', 40)
    f = Fleet(tmp_path, 'i', ['--placement-db', url])
    proc = subprocess.Popen(
        [SCRIPT, 'apply', '--all', '--yes', '--concurrency', str(WORKERS),
         *f.access, '--layouts', str(f.layouts), '--state-dir',
         str(f.state)], cwd=ROOT, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    assert proc.stderr is not None
    while 'nodes, ETA' not in (line := proc.stderr.readline()):
        assert line, 'no progress line'
    workers = spawned(proc.pid)
    assert len(workers) == WORKERS
    if to == 'group':
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 130, out + err
    assert 'interrupted; rerun' in err and 'Traceback' not in err
    assert 'not started' in out
    assert not any(Path(f'/proc/{pid}').exists() for pid in workers)
    states = f.check()['states']
    done = sorted(n for n, s in states.items() if s == 'pivoted')
    assert 1 <= len(done) < 30
    assert 'partial' not in states.values()
    rows = {line.split()[0]: line for line in out.splitlines()
            if line.startswith('i-')}
    assert sorted(n for n, row in rows.items() if ' done ' in row) == done
    entries = settled(f.state)
    assert len(entries) == len(done)
    assert all(e == [('pre-image', ''), ('result', 'done')]
               for e in entries.values()), entries
    rerun = _apply(f, '--concurrency', str(WORKERS))
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f'{len(done)} already pivoted' in rerun.stdout
    assert f.check()['code'] == 0


def test_sqlite_stays_serial_and_says_so(tmp_path):
    url = seed_offline(sqlite_url(tmp_path / 'p.db'), 's', 8)
    f = Fleet(tmp_path, 's', ['--placement-db', url])
    proc = _apply(f, '--concurrency', str(WORKERS))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'Offline, nodes are pivoted one at a time on SQLite' in \
        proc.stderr
    assert 'worker processes' not in proc.stderr
    assert '6 done, 0 already pivoted, 0 failed.' in proc.stdout
