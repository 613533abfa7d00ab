"""``nested-pivot apply NODE... | --all``: pivot nodes, each atomically.

One node's failure never stops the others.  Every node's pre-image is in
the journal before its reshape is sent.  Interrupted, it lets the nodes in
flight finish and stops; rerun it to go on.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import concurrent.futures
import dataclasses
from typing import Any

from nested_pivot import exception
from nested_pivot.cmd import render
from nested_pivot.cmd.codes import Code
from nested_pivot.cmd.context import Context
from nested_pivot.journal import Journal
from nested_pivot.layout import Layout
from nested_pivot.placement import operations
from nested_pivot.placement import PlacementClient
from nested_pivot.placement import snapshot


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        'apply', parents=[common],
        help='pivot the named nodes, or --all nodes that need it')
    parser.add_argument('nodes', metavar='NODE', nargs='*')
    parser.add_argument('--all', action='store_true',
                        help='every node a layout rule matches')
    parser.add_argument('--concurrency', type=int, default=1, metavar='N',
                        help='nodes pivoted at once (default: 1)')
    parser.add_argument('--yes', action='store_true',
                        help='do not ask for confirmation')
    parser.set_defaults(run=run)


@dataclasses.dataclass
class Outcome:
    node: str
    result: str
    detail: str = ''


def run(ctx: Context) -> Code:
    if bool(ctx.args.nodes) == ctx.args.all:
        ctx.fail('name the nodes to pivot, or give --all')
        return Code.UNEXPECTED
    layouts = ctx.layouts()
    journal = ctx.journal()
    with ctx.client() as client:
        client.version()
        nodes = ctx.args.nodes or [
            name for _, name in snapshot.list_roots(client)
            if layouts.rule_for(name)]
        if not ctx.confirm(f'Pivot {len(nodes)} node(s)?'):
            return Code.FAILURE

        def one(node: str) -> Outcome:
            try:
                rule = ctx.rule(layouts, node)
            except exception.PivotError as err:
                return Outcome(node, 'failed', str(err))
            return pivot_node(client, journal, node, rule.layout,
                              ctx.hints(rule, node))

        outcomes = _run_all(ctx, nodes, one)
    return _report(ctx, outcomes)


def pivot_node(client: PlacementClient, journal: Journal, node: str,
               layout: Layout, hints: dict[str, Any] | None,
               root_inventory: dict[str, Any] | None = None) -> Outcome:
    """Pivot one node, journaled; failures become an outcome."""
    def record(state: snapshot.NodeSnapshot, plan: Any) -> None:
        journal.record_preimage(plan, state.allocations)

    try:
        result = operations.pivot(client, node, layout, hints=hints,
                                  before_write=record,
                                  root_inventory=root_inventory)
    except exception.PivotError as err:
        if journal.entries(node):
            journal.record_result(node, 'failed', str(err))
        return Outcome(node, 'failed', ' '.join(str(err).split()))
    if not result.applied:
        return Outcome(node, 'already pivoted')
    journal.record_result(result.plan.node, 'done',
                          f'{len(result.plan.consumers)} consumers moved')
    return Outcome(node, 'done',
                   f'{len(result.plan.consumers)} consumers moved, '
                   f'{result.retries} retries')


def _run_all(ctx: Context, nodes: list[str],
             one: Callable[[str], Outcome]) -> list[Outcome]:
    progress = render.Progress(len(nodes), ctx.err)
    outcomes: list[Outcome] = []
    workers = max(1, ctx.args.concurrency)
    pool = concurrent.futures.ThreadPoolExecutor(workers)
    futures = [pool.submit(one, node) for node in nodes]
    try:
        for future in concurrent.futures.as_completed(futures):
            outcome = future.result()
            outcomes.append(outcome)
            progress.step(f'{outcome.node}: {outcome.result}')
    except KeyboardInterrupt:
        # Nodes in flight finish (each pivot is atomic); the rest wait
        # for the rerun.
        pool.shutdown(wait=True, cancel_futures=True)
        _report(ctx, outcomes + [f.result() for f in futures
                                 if f.done() and not f.cancelled()
                                 and f.result() not in outcomes])
        raise
    pool.shutdown()
    order = {node: i for i, node in enumerate(nodes)}
    return sorted(outcomes, key=lambda o: order.get(o.node, 0))


def _report(ctx: Context, outcomes: list[Outcome]) -> Code:
    failed = [o for o in outcomes if o.result == 'failed']
    if ctx.args.json:
        ctx.emit({'nodes': [dataclasses.asdict(o) for o in outcomes],
                  'failed': len(failed)})
    else:
        ctx.print('', *render.table(
            ['node', 'result', 'detail'],
            [[o.node, o.result, o.detail] for o in outcomes]))
        done = sum(o.result == 'done' for o in outcomes)
        ctx.print('', f'{done} done, {len(outcomes) - done - len(failed)} '
                      f'already pivoted, {len(failed)} failed.')
    return Code.FAILURE if failed else Code.SUCCESS
