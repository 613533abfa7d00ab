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
                        'offline always 1)')
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
        check = _recheck(ctx, client)

        def one(node: str) -> NodeOutcome:
            rule = layouts.rule_for(node)
            if rule is None:
                return NodeOutcome(node, Result.FAILED,
                                   layouts.why_no_rule(node))
            return workflows.pivot_node(client, journal, node, rule.layout,
                                        rule.hints.get(node),
                                        guarded=guarded(ctx), recheck=check)

        outcomes = unknown + run_all(ctx, nodes, one)
    code = report(ctx, outcomes, {Result.UNCHANGED: 'already pivoted'})
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
            one: Callable[[str], NodeOutcome]) -> list[NodeOutcome]:
    """``one`` for every node, ``--concurrency`` at a time; in node
    order."""
    progress = render.Progress(len(nodes), ctx.err)
    outcomes: dict[str, NodeOutcome] = {}
    pool = concurrent.futures.ThreadPoolExecutor(workers(ctx))
    futures = {pool.submit(one, node): node for node in nodes}
    try:
        for future in concurrent.futures.as_completed(futures):
            outcome = future.result()
            outcomes[futures[future]] = outcome
            progress.step(f'{outcome.node}: {outcome.result}')
    except KeyboardInterrupt:
        # Nodes in flight finish (each pivot is atomic); the rest wait
        # for the rerun.
        pool.shutdown(wait=True, cancel_futures=True)
        for future, node in futures.items():
            if future.done() and not future.cancelled():
                outcomes[node] = future.result()
        report(ctx, [outcomes.get(n) or NodeOutcome(n, Result.NOT_STARTED)
                     for n in nodes], {Result.UNCHANGED: 'already pivoted'})
        raise
    pool.shutdown()
    return [outcomes[n] for n in nodes]


def workers(ctx: Context) -> int:
    """--concurrency, or 1 offline: Placement in this process serves one
    request at a time, as nova-manage uses it, so threads buy nothing
    there (and a CI run saw one reshape refused while four ran in it)."""
    if ctx.args.placement_db and ctx.args.concurrency > 1:
        print('Offline, nodes are pivoted one at a time: --concurrency is '
              'for a Placement server.', file=ctx.err)
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
