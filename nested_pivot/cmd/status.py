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

"""``nested-pivot status NODE``: the node's state and its journal."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from nested_pivot import exception
from nested_pivot import text
from nested_pivot.cmd import check
from nested_pivot.cmd import render
from nested_pivot.cmd import say
from nested_pivot.cmd.arguments import node_name
from nested_pivot.cmd.codes import Code
from nested_pivot.cmd.context import Context
from nested_pivot.journal import Entry
from nested_pivot.service import reads
from nested_pivot.service import workflows


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        'status', parents=[common],
        help="NODE's state against its layout, and its journal",
        description='NODE\'s state, as check reports it, and its journal. '
                    'Exit 2 when the node cannot be pivoted or is counted '
                    'twice, else 0.')
    parser.add_argument('node', metavar='NODE', type=node_name,
                        help='node name or uuid')
    parser.set_defaults(run=run)


def run(ctx: Context) -> Code:
    ctx.read_layout_file()
    with ctx.client() as client:
        uuid, name, rule = ctx.node_rule(client, ctx.args.node)
        rules = ctx.rules
        found = workflows.report_node(
            client, uuid, name, rule,
            rules.refused.get(name, '') if rules else '',
            rules.why_no_rule(name) if rules else '')
    entries, problem = _journal(ctx, uuid)
    code = Code.FAILURE if found.state in reads.FAILING else Code.SUCCESS
    cut = interrupted(entries)
    if ctx.args.json:
        node = {**check.report_document(found),
                'journal': [dict(e.body, path=str(e.path))
                            for e in entries],
                'journal_error': problem,
                'interrupted': None if cut is None else {
                    'operation': cut.operation, 'path': str(cut.path),
                    'finish': _finish(ctx, cut, name)}}
        ctx.report(code, [node], **node)
        return code
    would = (f', {text.plural(found.consumers, "consumer")} would '
             f'move: {render.amounts(found.moves)}' if found.consumers
             else '')
    ctx.print(f'{found.node} ({found.uuid}): {found.state}{would}')
    reason = say.reason(found)
    if reason:
        ctx.print(f'  {reason}')
    ctx.print('', f'Journal ({ctx.journal().state_dir}):')
    rows = [[e.time, e.operation or '-',
             e.kind + (' (interrupted)' if e is cut else ''),
             _summary(e.body), e.path.name] for e in entries]
    ctx.print(*(render.table(['time', 'operation', 'kind', 'summary',
                              'file'], rows)
                if rows else ['  (no entries)']))
    if cut is not None:
        ctx.print('', f'  The last {cut.operation or "apply"} of {name} was '
                  'interrupted: its pre-image is in the journal, but no '
                  'result. Its reshape may or may not have reached '
                  'Placement; the state above is what Placement holds. '
                  'Finish it (a rerun reads the node again and does only '
                  'what is left) with:',
                  '    ' + _finish(ctx, cut, name))
    if problem:
        ctx.print(f'  {problem}', '  Roll back from what Placement holds '
                  'with: nested-pivot rollback --no-journal')
    return code


def interrupted(entries: list[Entry]) -> Entry | None:
    """The last pre-image, when no result follows it: a pivot or rollback
    stopped between its pre-image and its end (killed, or its machine
    lost)."""
    if entries and entries[-1].kind == 'pre-image':
        return entries[-1]
    return None


def _finish(ctx: Context, cut: Entry, name: str) -> str:
    operation = cut.operation if cut.operation == 'rollback' else 'apply'
    return ctx.command(operation, name)


def _journal(ctx: Context, uuid: str) -> tuple[list[Entry], str]:
    try:
        return ctx.journal().entries(uuid), ''
    except exception.JournalError as err:
        return [], str(err)


def _summary(body: Mapping[str, Any]) -> str:
    if body.get('kind') == 'pre-image':
        counts = [text.plural(len(body.get(key) or ()), noun)
                  for key, noun in (('consumers', 'consumer'),
                                    ('moves', 'move'),
                                    ('tree', 'provider'))]
        return ', '.join(counts)
    return f'{body.get("outcome", "")} {body.get("detail", "")}'.strip()
