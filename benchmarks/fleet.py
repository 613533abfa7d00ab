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

"""Fleet pivot: ``nested-pivot apply --all`` at several concurrencies
against a sequential loop of nova's own reshape flow, on the real HTTP
Placement server.

Every variant gets its own fleet of flat NUMA nodes (all seeded before
the first is timed), and reaches Placement through the same proxy, which
adds the service role as keystonemiddleware would for a real token.

``tools/placement-server run -- python -m benchmarks.fleet [--quick]``
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any
import uuid as uuidlib

from benchmarks import common

NODES = 200
CONSUMERS = 40
QUICK_NODES = 24
CONCURRENCY = (1, 4, 8)
NOVA = 'nova loop'
PROJECTED_NODES = 10_000
SCRIPT = Path(sys.executable).with_name('nested-pivot')


def case() -> common.Case:
    """Two NUMA cells; 40 instances fill about 57% of the memory."""
    return common.numa_case(cell_vcpus=32, cell_mem_mb=96 * 1024)


LAYOUT_FILE = """\
layouts:
  - match: "{prefix}-*"
    children:
{children}
"""


def layout_file(prefix: str) -> str:
    children = []
    for child in case().layout.children:
        inventory = {rc: inv.as_dict() for rc, inv in
                     child.inventory.items()}
        children.append(f'      - name: {child.name}\n'
                        f'        inventory: {json.dumps(inventory)}\n'
                        f'        traits: {json.dumps(sorted(child.traits))}')
    return LAYOUT_FILE.format(prefix=prefix, children='\n'.join(children))


# -- seeding --------------------------------------------------------------
def seed_fleet(adapter: Any, prefix: str, nodes: int) -> list[common.Node]:
    from tests.functional import seed

    shape = case()

    def one(i: int) -> common.Node:
        node = common.seed_node(adapter, shape, f'{prefix}-{i:03d}',
                                CONSUMERS)
        # Its nova-compute runs nested_pivot's hook, as the online guard
        # of apply asks (see workflows.check_hook).
        seed.mark_hook(adapter, node.root)
        return node

    return common.parallel(one, range(nodes), common.SEED_THREADS)


def check_fleet(adapter: Any, nodes: list[common.Node]) -> None:
    shape = case()
    common.parallel(lambda n: common.check_pivoted(adapter, shape, n),
                    nodes, common.SEED_THREADS)


# -- resource use -----------------------------------------------------------
def state_dir() -> Path:
    """tools/placement-server's state directory."""
    return Path(os.environ.get('NP_PLACEMENT_STATE',
                               '/tmp/nested-pivot-placement'))


def server_pids() -> list[int]:
    """gunicorn's master and PostgreSQL's postmaster, when found."""
    state = state_dir()
    pids = []
    for path in (state / 'server.pid', state / 'pg/data/postmaster.pid'):
        try:
            pids.append(int(path.read_text().split()[0]))
        except (OSError, ValueError, IndexError):
            continue
    return pids


def server_cpu() -> float:
    """CPU seconds used so far by the server processes and their
    children (reaped ones included, through cutime)."""
    stats = {}
    for entry in Path('/proc').iterdir():
        if entry.name.isdigit():
            try:
                text = (entry / 'stat').read_text()
            except OSError:
                continue
            fields = text.rsplit(')', 1)[1].split()
            stats[int(entry.name)] = (int(fields[1]),
                                      sum(map(int, fields[11:15])))
    wanted = set(server_pids())
    grew = True
    while grew:
        more = {p for p, (ppid, _) in stats.items() if ppid in wanted}
        grew = not more <= wanted
        wanted |= more
    ticks = sum(stats[p][1] for p in wanted if p in stats)
    return ticks / os.sysconf('SC_CLK_TCK')


# A small process starts the measured one and reports its rusage, as
# /usr/bin/time does: a child forked straight from this (large) process
# would count this process's memory in its own peak.
LAUNCHER = """\
import json, os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, use = os.wait4(pid, 0)
with open(sys.argv[1], 'w') as out:
    json.dump({'code': os.waitstatus_to_exitcode(status),
               'maxrss_kib': use.ru_maxrss,
               'cpu': use.ru_utime + use.ru_stime}, out)
"""


def measured(command: list[str], usage: Path) -> list[str]:
    """``command`` run through the launcher, its rusage in ``usage``."""
    return [sys.executable, '-S', '-c', LAUNCHER, str(usage), *command]


# -- the variants -----------------------------------------------------------
def run_variant(label: str, command: list[str], proxy: Any,
                workdir: Path) -> dict[str, Any]:
    """Run ``command`` to pivot one fleet; wall, CPU, memory, requests."""
    proxy.clear_log()
    out, err = workdir / f'{label}.out', workdir / f'{label}.err'
    rusage = workdir / f'{label}.rusage'
    server, mine = server_cpu(), time.process_time()
    start = time.perf_counter()
    with out.open('wb') as stdout, err.open('wb') as stderr:
        subprocess.run(measured(command, rusage), stdout=stdout,
                       stderr=stderr, stdin=subprocess.DEVNULL,
                       cwd=common.ROOT, check=True)
    wall = time.perf_counter() - start
    usage = json.loads(rusage.read_text())
    if usage['code'] != 0:
        raise RuntimeError(f'{label} exited {usage["code"]}:\n'
                           + err.read_text()[-3000:])
    return {'variant': label, 'wall': wall, 'client_cpu': usage['cpu'],
            'peak_rss_mib': usage['maxrss_kib'] / 1024,
            'server_cpu': server_cpu() - server,
            'proxy_cpu': time.process_time() - mine,
            'requests': proxy.count(), 'kinds': _kinds(proxy.log),
            'output': out.read_text()}


def _kinds(log: list[Any]) -> dict[str, int]:
    """Requests per method and path shape, from the proxy's log."""
    counter = common.Counter()
    for entry in list(log):
        counter.record(entry.method, entry.path, None, 0.0)
    return counter.kinds


def cli_command(prefix: str, concurrency: int, conf: Path,
                workdir: Path) -> list[str]:
    layouts = workdir / f'{prefix}.yaml'
    layouts.write_text(layout_file(prefix))
    return [str(SCRIPT), 'apply', '--all', '--concurrency',
            str(concurrency), '--yes', '--json', '--config-file', str(conf),
            '--layouts', str(layouts), '--state-dir',
            str(workdir / f'{prefix}-state')]


def nova_command(nodes: list[common.Node], url: str, workdir: Path
                 ) -> list[str]:
    listing = workdir / 'nova-nodes.json'
    listing.write_text(json.dumps([[n.name, n.root] for n in nodes]))
    return [sys.executable, '-m', 'benchmarks.fleet', '--nova-loop', url,
            str(listing)]


def nova_loop(url: str, listing: str) -> None:
    """nova's flow, one node after the other, as each nova-compute
    would at start; prints its own timing and memory as JSON."""
    from tests.functional import harness

    common.nova()
    layout = case().layout
    adapter = harness.http_placement(url)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    for name, root in json.loads(Path(listing).read_text()):
        common.nova_flow(adapter, common.Node(name, root, (), {}), layout)
    print(json.dumps({
        'loop_wall': time.perf_counter() - start,
        'rss_before_mib': before / 1024,
        'rss_peak_mib': resource.getrusage(
            resource.RUSAGE_SELF).ru_maxrss / 1024}))


def summarise(found: dict[str, Any], nodes: int) -> dict[str, Any]:
    """Nodes per minute; for the CLI, its outcome counts."""
    output = found.pop('output')
    wall = found['wall']
    if found['variant'] == NOVA:
        extra = json.loads(output.strip().splitlines()[-1])
        found.update(extra)
        wall = extra['loop_wall']  # nova-compute's own start not counted
        done = nodes
    else:
        done = sum(n['result'] == 'done' for n in json.loads(output)['nodes'])
    if done != nodes:
        raise RuntimeError(f'{found["variant"]}: {done} of {nodes} done')
    found.update(nodes=nodes, timed_wall=wall,
                 nodes_per_min=60 * nodes / wall)
    return found


def run(quick: bool) -> list[dict[str, Any]]:
    from tests.functional import harness

    url = os.environ[common.URL_VAR]
    nodes = QUICK_NODES if quick else NODES
    adapter = harness.http_placement(url)
    labels = [NOVA] + [f'nested-pivot c={c}' for c in CONCURRENCY]
    tag = uuidlib.uuid4().hex[:6]
    start = time.perf_counter()
    fleets = {label: seed_fleet(adapter, f'fleet{tag}-{i}', nodes)
              for i, label in enumerate(labels)}
    print(f'  fleet: seeded {len(labels)} x {nodes} nodes x {CONSUMERS} '
          f'consumers in {time.perf_counter() - start:.0f} s',
          file=sys.stderr, flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix='np-fleet-') as tmp, \
            harness.FaultProxy(url, timeout=300) as proxy:
        # What keystonemiddleware does for a token with these roles.
        proxy.set_headers = {'X-Roles': 'admin,service'}
        workdir = Path(tmp)
        conf = workdir / 'nova.conf'
        conf.write_text(f'[placement]\nauth_type = admin_token\n'
                        f'endpoint = {proxy.url}\ntoken = admin\n')
        for i, label in enumerate(labels):
            command = (nova_command(fleets[label], proxy.url, workdir)
                       if label == NOVA else
                       cli_command(f'fleet{tag}-{i}', CONCURRENCY[i - 1],
                                   conf, workdir))
            found = summarise(run_variant(label, command, proxy, workdir),
                              nodes)
            check_fleet(adapter, fleets[label])
            print(f'  fleet {label:17} {found["timed_wall"]:7.1f} s '
                  f'{found["nodes_per_min"]:6.1f} nodes/min',
                  file=sys.stderr, flush=True)
            results.append(found)
    return results


def cpu_per_node(result: dict[str, Any]) -> float:
    """CPU seconds one node cost the machine: client, server, proxy."""
    used = result['client_cpu'] + result['server_cpu'] + result['proxy_cpu']
    return float(used / result['nodes'])


def cpu_bound(result: dict[str, Any]) -> float:
    """Nodes per minute if every core did nothing but this work: no
    concurrency can go past it."""
    return 60 * (os.cpu_count() or 1) / cpu_per_node(result)


def table(results: list[dict[str, Any]]) -> list[str]:
    base = next(r for r in results if r['variant'] == NOVA)
    serial = next(r for r in results if r['variant'].endswith('c=1'))
    rows = []
    for r in results:
        rows.append([
            r['variant'], r['nodes'], r['timed_wall'], r['nodes_per_min'],
            r['nodes_per_min'] / serial['nodes_per_min'],
            r['nodes_per_min'] / base['nodes_per_min'], r['requests'],
            r['peak_rss_mib'], 100 * r['client_cpu'] / r['wall'],
            100 * r['server_cpu'] / r['wall'], cpu_per_node(r),
            cpu_bound(r) / serial['nodes_per_min'],
            PROJECTED_NODES / r['nodes_per_min'] / 60])
    return common.table(
        ['flow', 'nodes', 'wall s', 'nodes/min', 'vs c=1', 'vs nova',
         'requests', 'peak RSS MiB', 'client CPU %', 'server CPU %',
         'CPU s/node', 'CPU bound vs c=1', f'{PROJECTED_NODES:,} nodes h'],
        rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--quick', action='store_true')
    parser.add_argument('--nova-loop', nargs=2, metavar=('URL', 'NODES'))
    args = parser.parse_args()
    if args.nova_loop:
        nova_loop(*args.nova_loop)
        return
    print('\n'.join(table(run(args.quick))))


if __name__ == '__main__':
    main()
