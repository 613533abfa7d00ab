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

"""``nested-pivot check``: which nodes need a pivot, and can they have it."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from nested_pivot import microversion
from nested_pivot import text
from nested_pivot.cmd import render
from nested_pivot.cmd import say
from nested_pivot.cmd import selection
from nested_pivot.cmd.codes import Code
from nested_pivot.cmd.context import Context
from nested_pivot.service import reads
from nested_pivot.service import workflows
from nested_pivot.service.reads import FAILING
from nested_pivot.service.reads import NodeState
from nested_pivot.service.reads import PENDING

STATES = ', '.join(str(s) for s in NodeState)


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        'check', parents=[common],
        help=f'classify every compute node: {STATES}',
        description=f'Classify every compute node (or those selected, as '
                    f'apply selects them) against its layout rule: '
                    f'{STATES}. Exit 0 when nothing is to do, 1 when work '
                    f'is pending (or, with --from-nova, Placement has nodes '
                    f'that no cell read has), 2 when a node cannot be '
                    f'pivoted or is counted twice.')
    selection.add_arguments(parser, verb='check', every='every compute node',
                            default_all=True)
    parser.set_defaults(run=run)


def run(ctx: Context) -> Code:
    ctx.read_layout_file()
    with ctx.client() as client:
        checks = workflows.preflight(client)
        _say_checks(ctx, checks)
        chosen = selection.select(ctx, client)
        layouts = ctx.layouts(client, chosen.scope())
        roots = list(chosen.roots)
        progress = render.Progress(len(roots), ctx.err, 'nodes checked')
        rows = workflows.survey(
            client, layouts, roots,
            lambda r: progress.step(f'{r.node}: {r.state}'))
    unread = ctx.unread()
    code = code_of(checks.reshaper_policy, [r.state for r in rows],
                   bool(unread))
    if ctx.args.json:
        ctx.report(code, [report_document(r) for r in rows],
                   placement=dataclasses.asdict(checks), code=int(code),
                   unread=unread)
    else:
        _say_rows(ctx, rows, code)
    return code


def code_of(policy: bool, states: list[NodeState],
            unread: bool = False) -> Code:
    """2 when a node fails, 1 when work is pending or some nodes are in
    no cell of nova that was read (nothing tells how to pivot them), else
    0."""
    if not policy or FAILING & set(states):
        return Code.FAILURE
    if PENDING & set(states) or unread:
        return Code.WARNING
    return Code.SUCCESS


def report_document(report: reads.NodeStatus) -> dict[str, Any]:
    return {'node': report.node, 'uuid': report.uuid,
            'state': str(report.state), 'consumers': report.consumers,
            'moves': dict(report.moves), 'reason': say.reason(report),
            'unfit': [dataclasses.asdict(u) for u in report.unfit]}


def _say_checks(ctx: Context, checks: workflows.Preflight) -> None:
    if ctx.args.json:
        return
    needed = microversion.RESHAPER
    ctx.print(f'Placement microversion {checks.microversion} '
              f'({microversion.text(needed)} needed, for '
              f'{microversion.TABLE[needed]}): OK')
    if checks.reshaper_policy:
        ctx.print('Reshaper policy: OK (the credentials have the service '
                  'role)')
    else:
        ctx.print('Reshaper policy: FAILED: the credentials lack the '
                  '"service" role that placement:reshaper:reshape needs; '
                  'no pivot can be applied with them')


def _say_rows(ctx: Context, rows: list[reads.NodeStatus],
              code: Code) -> None:
    ctx.print('', *render.table(
        ['node', 'state', 'consumers to move', 'would move', 'reason'],
        [[r.node, r.state, r.consumers, render.amounts(r.moves),
          say.reason(r)]
         for r in rows]))
    counts: dict[str, int] = {}
    for r in rows:
        counts[str(r.state)] = counts.get(str(r.state), 0) + 1
    summary = ', '.join(f'{n} {s}' for s, n in sorted(counts.items()))
    verdict = {Code.SUCCESS: 'Nothing to do',
               Code.WARNING: 'Work pending: run nested-pivot apply',
               Code.FAILURE: 'Some nodes need attention (see above; '
                             'nested-pivot plan NODE says why)'}
    if code is Code.WARNING and not PENDING & {r.state for r in rows}:
        verdict[code] = 'Some nodes are in no nova cell read (below)'
    ctx.print('', f'{text.plural(len(rows), "node")}: '
                  f'{summary or "none"}. {verdict[code]}.',
              *ctx.unread_lines())
