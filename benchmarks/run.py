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

"""Every benchmark of nested_pivot against nova's own reshape flow: per
node (host), for a fleet, and packing quality.  Prints the tables and
writes ``benchmarks/results/results{,-quick}.{json,md,png}``.

``tox -e bench`` runs it under a real Placement server; by hand::

    PYTHON=$(command -v python) bash tools/placement-server run \\
        --workers 4 -- python -m benchmarks.run [--quick] [--only host]

Figures only: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import datetime
import importlib.metadata
import json
import os
from pathlib import Path
import platform
import subprocess
import sys
import time
from typing import Any

from benchmarks import common
from benchmarks import fleet
from benchmarks import host
from benchmarks import packing
from benchmarks import report

SECTIONS: dict[str, Callable[[bool], Any]] = {
    'packing': packing.run, 'host': host.run, 'fleet': fleet.run}
OWN_SCRIPTS = ('ffu', 'novadb')
"""Sections that tox -e bench runs with scripts of their own
(benchmarks/ffu.py, benchmarks/novadb.py); here they select nothing."""
PACKAGES = ('nested_pivot', 'nova', 'openstack-placement', 'keystoneauth1',
            'gunicorn', 'psycopg2-binary', 'ortools', 'matplotlib')


def machine() -> dict[str, Any]:
    """What the figures depend on."""
    info: dict[str, Any] = {
        'date': datetime.datetime.now(datetime.timezone.utc).strftime(
            '%Y-%m-%d %H:%M UTC'),
        'cpu': _cpu_model(), 'cores': os.cpu_count(),
        'memory': _memory(), 'python': platform.python_version(),
        'kernel': platform.release(), 'postgresql': _postgres(),
        'gunicorn workers': _workers()}
    for name in PACKAGES:
        try:
            info[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            info[name] = 'not installed'
    info['command'] = ' '.join(['python -m benchmarks.run', *sys.argv[1:]])
    return info


def _cpu_model() -> str:
    for line in Path('/proc/cpuinfo').read_text().splitlines():
        if line.startswith('model name'):
            return line.split(':', 1)[1].strip()
    return platform.processor() or 'unknown'


def _memory() -> str:
    for line in Path('/proc/meminfo').read_text().splitlines():
        if line.startswith('MemTotal:'):
            return f'{int(line.split()[1]) / 1024**2:.1f} GiB'
    return 'unknown'


def _postgres() -> str:
    try:
        pgbin = (fleet.state_dir() / 'pgbin').read_text().strip()
        binary = Path(pgbin) / 'postgres'
        return subprocess.run([str(binary), '--version'], check=True,
                              capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return 'no server found'


def _workers() -> int:
    pids = fleet.server_pids()[:1]
    if not pids:
        return 0
    found = 0
    for entry in Path('/proc').glob('[0-9]*/stat'):
        try:
            fields = entry.read_text().rsplit(')', 1)[1].split()
        except OSError:
            continue
        found += int(fields[1]) == pids[0]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--quick', action='store_true',
                        help='small sizes, for a smoke run (a few minutes)')
    parser.add_argument('--only', action='append',
                        choices=[*SECTIONS, *OWN_SCRIPTS],
                        help='run only this section (repeatable); the '
                             'others are kept from the last results')
    args = parser.parse_args()
    if not os.environ.get(common.URL_VAR):
        print(f'run: ${common.URL_VAR} not set: no HTTP server, so no '
              'fleet and SQLite only for host', file=sys.stderr)
    stem = 'results-quick' if args.quick else 'results'
    path = common.RESULTS / f'{stem}.json'
    results = json.loads(path.read_text()) if path.exists() else {}
    results['machine'] = machine()
    for name in [n for n in args.only or SECTIONS if n in SECTIONS]:
        if name == 'fleet' and not os.environ.get(common.URL_VAR):
            continue
        results[name] = _timed(name, SECTIONS[name], args.quick, results)
        common.RESULTS.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, sort_keys=True))
    print('\n'.join(report.write(results, stem)))


def _timed(name: str, section: Callable[[bool], Any], quick: bool,
           results: dict[str, Any]) -> Any:
    load = common.load_average()
    start = time.perf_counter()
    print(f'{name}: starting (load average {load:.2f})', file=sys.stderr,
          flush=True)
    found = section(quick)
    seconds = time.perf_counter() - start
    results.setdefault('sections', {})[name] = {
        'seconds': round(seconds), 'load_before': round(load, 2),
        'load_after': round(common.load_average(), 2)}
    print(f'{name}: done in {seconds:.0f} s', file=sys.stderr, flush=True)
    return found


if __name__ == '__main__':
    main()
