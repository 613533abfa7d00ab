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

from oslo_log import log as logging

from nested_pivot.cmd import render
from nested_pivot.cmd import selection
from nested_pivot.cmd import signals
from nested_pivot.cmd import workers as processes
from nested_pivot.cmd.arguments import positive
from nested_pivot.cmd.codes import Code
from nested_pivot.cmd.context import Context
from nested_pivot.layoutfile import Layouts
from nested_pivot.placement import PlacementClient
from nested_pivot.service import workflows
from nested_pivot.service.workflows import NodeOutcome
from nested_pivot.service.workflows import Result

LOG = logging.getLogger(__name__)

DESCRIPTION = """\
Pivot each node selected: its inventory and its instances' allocations
move from the flat root provider onto the children its layout rule names,
in one atomic POST /reshaper per node. Nodes are named (name, uuid or a
quoted glob pattern), or taken with --all, and narrowed by --cell and
--aggregate; every node is checked to exist first. The prompt names the
nodes and the Placement database, and --yes answers it. Before each
reshape the node's pre-image goes to the journal (--state-dir). One
node's failure never stops the others; Ctrl-C lets the nodes in flight
finish. Exit 0 when every node is done or already pivoted, 2 when one
failed."""


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        'apply', parents=[common],
        help='pivot the named nodes, or --all nodes that need it',
        description=DESCRIPTION)
    selection.add_arguments(parser, verb='pivot',
                            every='every node a layout rule matches')
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
    parser.set_defaults(run=run)


WORDS = {Result.UNCHANGED: 'already pivoted'}


def run(ctx: Context) -> Code:
    ctx.read_layout_file()
    journal = ctx.journal()
    with ctx.client() as client:
        client.version()
        chosen = selection.select(ctx, client)
        layouts = ctx.layouts(client, chosen.scope())
        nodes = pivotable(chosen, layouts)
        if not ctx.confirm(selection.question('Pivot', nodes,
                                              ctx.where(client))):
            return Code.DECLINED
        check = _recheck(ctx, client)

        def one(node: str) -> NodeOutcome:
            rule = layouts.rule_for(node)
            if rule is None:
                return NodeOutcome(node, Result.FAILED,
                                   layouts.why_no_rule(node))
            return workflows.pivot_node(client, journal, node, rule.layout,
                                        rule.hints.get(node),
                                        guarded=guarded(ctx), recheck=check)

        count = min(workers(ctx), max(1, len(nodes)))
        if ctx.args.placement_db and count > 1:
            outcomes = in_processes(ctx, nodes, layouts, count)
        else:
            outcomes = run_all(ctx, nodes, one, count)
    code = report(ctx, outcomes, WORDS)
    _offer_audit(ctx, outcomes)
    return code


def _recheck(ctx: Context, client: PlacementClient
             ) -> workflows.Recheck | None:
    """With nova's facts at hand, the check of each applied plan's
    rewritten consumers (:mod:`nested_pivot.audit.recheck`)."""
    if not ctx.args.from_nova:
        return None
    from nested_pivot.audit import recheck
    from nested_pivot.novadb.consumers import NovaConsumers

    return recheck.for_client(client,
                              NovaConsumers.from_source(ctx.nova_source()))


def _offer_audit(ctx: Context, outcomes: list[NodeOutcome]) -> None:
    """Name the command that checks and removes the leaks found."""
    leaking = [o.node for o in outcomes if o.leaked]
    if not leaking or ctx.args.json:
        return
    ctx.print('', 'Consumers the pivot rewrote still hold allocations '
              'although nova has deleted their instance: if nova\'s '
              'delete raced the reshape, the reshape brought them back. '
              'Nothing was removed. Check and remove them with:',
              '  ' + ctx.command('audit', *leaking, '--fix'))


def guarded(ctx: Context) -> bool:
    """Online, a running nova-compute may undo what is written: refuse
    nodes whose compute does not keep it, unless --force.  Offline every
    service is stopped."""
    return not ctx.args.placement_db and not ctx.args.force


def pivotable(chosen: selection.Selection, layouts: Layouts) -> list[str]:
    """The nodes to pivot: every node named, and of those a pattern,
    --all or a filter found, each one a rule matches or whose facts
    refuse its pivot (it fails, saying why)."""
    return [name for name in chosen.names
            if chosen.is_named(name) or layouts.rule_for(name)
            or name in layouts.refused]


def run_all(ctx: Context, nodes: list[str],
            one: Callable[[str], NodeOutcome], count: int = 1,
            words: dict[Result, str] | None = None) -> list[NodeOutcome]:
    """``one`` for every node, ``count`` at a time in threads; in node
    order.  ``words`` are the table's words for results, when
    interrupted."""
    pool = concurrent.futures.ThreadPoolExecutor(count)
    return drive(ctx, nodes, pool, count,
                 lambda node: pool.submit(one, node), words)


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
          submit: Callable[[str], concurrent.futures.Future[NodeOutcome]],
          words: dict[Result, str] | None = None) -> list[NodeOutcome]:
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
        # Nodes in flight finish (each pivot is atomic), whatever comes
        # next; the rest wait for the rerun.
        with signals.finishing(ctx.err, 'the nodes in flight'):
            pool.shutdown(wait=True, cancel_futures=True)
        for future, node in running.items():
            if future.done() and not future.cancelled():
                outcomes[node] = future.result()
        report(ctx, [outcomes.get(n) or NodeOutcome(n, Result.NOT_STARTED)
                     for n in nodes], WORDS if words is None else words)
        raise
    pool.shutdown()
    return [outcomes[n] for n in nodes]


def workers(ctx: Context) -> int:
    """--concurrency, or 1 offline on SQLite, which serves one writer at
    a time (Placement in this process serves one request at a time too:
    offline, more nodes at once take worker processes)."""
    if (ctx.args.placement_db and ctx.args.concurrency > 1
            and not processes.parallel_database(ctx.args.placement_db)):
        ctx.warn('Offline, nodes are pivoted one at a time on SQLite, which '
                 'serves one writer at a time: --concurrency needs a '
                 'PostgreSQL or MariaDB Placement database.')
        return 1
    return int(ctx.args.concurrency)


def report(ctx: Context, outcomes: list[NodeOutcome],
           words: dict[Result, str]) -> Code:
    """The table of outcomes, and the exit code: 2 when any failed."""
    def word(result: Result) -> str:
        return words.get(result, str(result))

    failed = [o for o in outcomes if o.result is Result.FAILED]
    code = Code.FAILURE if failed else Code.SUCCESS
    counts = {r: sum(o.result is r for o in outcomes) for r in Result}
    uuids = ctx.selection.uuids if ctx.selection is not None else {}
    for o in outcomes:
        LOG.info('Node %s (%s): %s%s', o.node, uuids.get(o.node, '?'),
                 word(o.result), f': {o.detail}' if o.detail else '')
    if ctx.args.json:
        ctx.report(code, [dict(dataclasses.asdict(o), result=word(o.result),
                               uuid=uuids.get(o.node, ''))
                          for o in outcomes],
                   failed=len(failed),
                   counts={word(r): n for r, n in counts.items()},
                   unread=ctx.unread())
        return code
    ctx.print('', *render.table(
        ['node', 'result', 'detail'],
        [[o.node, word(o.result), o.detail] for o in outcomes]))
    ctx.print('', ', '.join(f'{counts[r]} {word(r)}' for r in Result
                            if counts[r] or r is not Result.NOT_STARTED)
              + '.', *ctx.unread_lines())
    return code
