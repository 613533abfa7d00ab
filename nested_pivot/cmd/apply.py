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

"""``nested-pivot apply NODE... | --all``: pivot nodes, each atomically.

One node's failure never stops the others.  Every node's pre-image is in
the journal before its reshape is sent.  Interrupted, it lets the nodes in
flight finish and stops; rerun it to go on.  Online, ``--concurrency``
nodes go at once in threads; offline, in worker processes
(:mod:`nested_pivot.cmd.workers`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import concurrent.futures
import dataclasses
import itertools
from typing import Any

from nested_pivot import exception
from nested_pivot.cmd import render
from nested_pivot.cmd import workers as processes
from nested_pivot.cmd.arguments import node_name
from nested_pivot.cmd.arguments import positive
from nested_pivot.cmd.codes import Code
from nested_pivot.cmd.context import Context
from nested_pivot.layoutfile import Layouts
from nested_pivot.placement import PlacementClient
from nested_pivot.placement import read
from nested_pivot.placement import workflows
from nested_pivot.placement.workflows import NodeOutcome
from nested_pivot.placement.workflows import Result


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        'apply', parents=[common],
        help='pivot the named nodes, or --all nodes that need it')
    parser.add_argument('nodes', metavar='NODE', nargs='*', type=node_name,
                        help='node name or uuid (repeatable)')
    parser.add_argument('--all', action='store_true',
                        help='every node a layout rule matches')
    parser.add_argument('--concurrency', type=positive, default=1,
                        metavar='N', help='nodes pivoted at once (default: 1; '
                        'offline, in N worker processes on PostgreSQL and '
                        'MariaDB, one at a time on SQLite)')
    parser.add_argument('--yes', action='store_true',
                        help='do not ask for confirmation')
    parser.add_argument('--force', action='store_true',
                        help='online, pivot nodes whose nova-compute does '
                             'not run the hook (or runs it with pivot_mode '
                             '= off), which it would undo at its next start')
    parser.set_defaults(run=run, usage=parser.error)


def run(ctx: Context) -> Code:
    if bool(ctx.args.nodes) == ctx.args.all:
        ctx.args.usage('name the nodes to pivot, or give --all')
    ctx.read_layout_file()
    journal = ctx.journal()
    with ctx.client() as client:
        client.version()
        nodes, unknown, layouts = _nodes(ctx, client)
        if not ctx.confirm(f'Pivot {workflows.plural(len(nodes), "node")}?'):
            return Code.DECLINED

        def one(node: str) -> NodeOutcome:
            rule = layouts.rule_for(node)
            if rule is None:
                return NodeOutcome(node, Result.FAILED,
                                   layouts.why_no_rule(node))
            return workflows.pivot_node(client, journal, node, rule.layout,
                                        rule.hints.get(node),
                                        guarded=guarded(ctx))

        count = min(workers(ctx), max(1, len(nodes)))
        if ctx.args.placement_db and count > 1:
            outcomes = unknown + in_processes(ctx, nodes, layouts, count)
        else:
            outcomes = unknown + run_all(ctx, nodes, one, count)
    return report(ctx, outcomes, {Result.UNCHANGED: 'already pivoted'})


def guarded(ctx: Context) -> bool:
    """Online, a running nova-compute may undo what is written: refuse
    nodes whose compute does not keep it, unless --force.  Offline every
    service is stopped."""
    return not ctx.args.placement_db and not ctx.args.force


def _nodes(ctx: Context, client: PlacementClient
           ) -> tuple[list[str], list[NodeOutcome], Layouts]:
    """The nodes to pivot by name, each once, the ones not found, and
    the rules.  --all takes every node a rule matches, and every node
    whose facts refuse its pivot (it fails, saying why)."""
    if ctx.args.all:
        layouts = ctx.layouts(client)
        return [name for _, name in read.list_roots(client)
                if layouts.rule_for(name) or name in layouts.refused], \
            [], layouts
    names: dict[str, str] = {}
    unknown = []
    for node in ctx.args.nodes:
        try:
            uuid, name = read.find_node(client, node)
        except exception.PivotError as err:
            unknown.append(NodeOutcome(node, Result.FAILED,
                                       workflows.one_line(err)))
            continue
        names.setdefault(uuid, name)
    return list(names.values()), unknown, ctx.layouts(client,
                                                      list(names.values()))


def run_all(ctx: Context, nodes: list[str],
            one: Callable[[str], NodeOutcome], count: int = 1
            ) -> list[NodeOutcome]:
    """``one`` for every node, ``count`` at a time in threads; in node
    order."""
    pool = concurrent.futures.ThreadPoolExecutor(count)
    return drive(ctx, nodes, pool, count, lambda node: pool.submit(one, node))


def in_processes(ctx: Context, nodes: list[str], layouts: Layouts,
                 count: int) -> list[NodeOutcome]:
    """Offline on a database server: every node in one of ``count``
    worker processes, each with its own Placement; in node order."""
    ctx.err.write(f'Offline: {count} worker processes, each with its own '
                  'Placement and database connections.\n')
    pool = processes.pool(processes.setup(
        ctx.args.config_file, ctx.args.placement_db, ctx.args.state_dir),
        count)

    def submit(node: str) -> concurrent.futures.Future[NodeOutcome]:
        rule = layouts.rule_for(node)
        if rule is None:
            done: concurrent.futures.Future[NodeOutcome] = (
                concurrent.futures.Future())
            done.set_result(NodeOutcome(node, Result.FAILED,
                                        layouts.why_no_rule(node)))
            return done
        # A submission may start a worker process.
        with processes.spawning():
            return pool.submit(processes.pivot, node, rule.layout,
                               rule.hints.get(node))

    return drive(ctx, nodes, pool, count, submit)


def drive(ctx: Context, nodes: list[str], pool: concurrent.futures.Executor,
          window: int,
          submit: Callable[[str], concurrent.futures.Future[NodeOutcome]]
          ) -> list[NodeOutcome]:
    """Every node through ``submit`` to ``pool``, ``window`` in flight at
    most, the progress bar stepped as each ends; in node order."""
    progress = render.Progress(len(nodes), ctx.err)
    outcomes: dict[str, NodeOutcome] = {}
    waiting = iter(nodes)
    running: dict[concurrent.futures.Future[NodeOutcome], str] = {}

    def fill() -> None:
        # A node is handed out only when one can start at once: an
        # interruption leaves no node queued behind those in flight.
        for node in itertools.islice(waiting, window - len(running)):
            running[submit(node)] = node

    try:
        fill()
        while running:
            done, _ = concurrent.futures.wait(
                running, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                outcome = future.result()
                outcomes[running.pop(future)] = outcome
                progress.step(f'{outcome.node}: {outcome.result}')
            fill()
    except KeyboardInterrupt:
        # Nodes in flight finish (each pivot is atomic); the rest wait
        # for the rerun.
        pool.shutdown(wait=True, cancel_futures=True)
        for future, node in running.items():
            if future.done() and not future.cancelled():
                outcomes[node] = future.result()
        report(ctx, [outcomes.get(n) or NodeOutcome(n, Result.NOT_STARTED)
                     for n in nodes], {Result.UNCHANGED: 'already pivoted'})
        raise
    pool.shutdown()
    return [outcomes[n] for n in nodes]


def workers(ctx: Context) -> int:
    """--concurrency, or 1 offline on SQLite, which serves one writer at
    a time (Placement in this process serves one request at a time too:
    offline, more nodes at once take worker processes)."""
    if (ctx.args.placement_db and ctx.args.concurrency > 1
            and not processes.parallel_database(ctx.args.placement_db)):
        print('Offline, nodes are pivoted one at a time on SQLite, which '
              'serves one writer at a time: --concurrency needs a '
              'PostgreSQL or MariaDB Placement database.', file=ctx.err)
        return 1
    return int(ctx.args.concurrency)


def report(ctx: Context, outcomes: list[NodeOutcome],
           words: dict[Result, str]) -> Code:
    """The table of outcomes, and the exit code: 2 when any failed."""
    def word(result: Result) -> str:
        return words.get(result, str(result))

    failed = [o for o in outcomes if o.result is Result.FAILED]
    if ctx.args.json:
        ctx.emit({'nodes': [dict(dataclasses.asdict(o),
                                 result=word(o.result)) for o in outcomes],
                  'failed': len(failed)})
    else:
        ctx.print('', *render.table(
            ['node', 'result', 'detail'],
            [[o.node, word(o.result), o.detail] for o in outcomes]))
        counts = {r: sum(o.result is r for o in outcomes) for r in Result}
        ctx.print('', ', '.join(f'{counts[r]} {word(r)}' for r in Result
                                if counts[r] or r is not Result.NOT_STARTED)
                  + '.')
    return Code.FAILURE if failed else Code.SUCCESS
