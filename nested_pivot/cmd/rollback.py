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

"""``nested-pivot rollback NODE... | --all``: back to flat, through the
engine.

Every allocation moves back to the root and the children the node's layout
owns are removed; other services' providers stay.  The root gets back the
flat records the journal kept from before the pivot; without a journal, or
when they no longer fit what runs on the node, the children's records
summed.  It works from what Placement holds now, so it works even if the
node changed since its pivot.  Nodes are selected as ``apply`` selects
them, and rolled back as ``apply`` pivots them: each atomically, one
node's failure never stopping the others.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from nested_pivot.cmd import apply
from nested_pivot.cmd import plan as plan_cmd
from nested_pivot.cmd import selection
from nested_pivot.cmd.arguments import positive
from nested_pivot.cmd.codes import Code
from nested_pivot.cmd.context import Context
from nested_pivot.journal import Journal
from nested_pivot.layout import Layout
from nested_pivot.placement import PlacementClient
from nested_pivot.service import workflows
from nested_pivot.service.workflows import NodeOutcome
from nested_pivot.service.workflows import Result

DESCRIPTION = """\
Move each node selected back to the flat layout: every allocation goes
back to the root provider, and the children its layout owns (those its
rule names, and those nested_pivot created) are removed; other services'
providers stay. The root gets back its records from before the pivot, from
the journal's pre-image, or else the children's records summed. Nodes are
named (name, uuid or a quoted glob pattern), or taken with --all, and
narrowed by --cell and --aggregate, as apply takes them; each node is one
atomic reshape, journaled. --dry-run draws what would change. Exit 0 when
every node is rolled back or already flat, 2 when one failed."""

WORDS = {Result.DONE: 'rolled back to flat', Result.UNCHANGED: 'already flat'}


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        'rollback', parents=[common],
        help='move nodes back to the flat layout and remove the children '
             'their layout owns',
        description=DESCRIPTION)
    selection.add_arguments(parser, verb='roll back',
                            every='every compute node')
    parser.add_argument('--concurrency', type=positive, default=1,
                        metavar='N', help='nodes rolled back at once '
                        '(default: 1; offline always 1)')
    parser.add_argument('--yes', action='store_true',
                        help='do not ask for confirmation')
    parser.add_argument('--dry-run', action='store_true',
                        help='show what the rollback would do; change '
                             'nothing')
    parser.add_argument('--force', action='store_true',
                        help='online, roll back a node whose nova-compute '
                             'does not run the hook (or runs it with '
                             'pivot_mode = startup), which would pivot it '
                             'again')
    parser.add_argument('--no-journal', action='store_true',
                        help='do not read the journal (e.g. a corrupt '
                             'one): the root gets the children\'s records '
                             'summed')
    parser.set_defaults(run=run)


def run(ctx: Context) -> Code:
    if ctx.args.from_nova:
        ctx.read_nova()
    journal = ctx.journal()
    with ctx.client() as client:
        client.version()
        chosen = selection.select(ctx, client)
        flat = ctx.flat_layouts(chosen.scope(), client)
        if ctx.args.dry_run:
            return _dry_run(ctx, client, journal, chosen.names, flat)
        if not ctx.confirm(selection.question(
                'Roll', chosen.names, ctx.where(client), ' back to flat')):
            return Code.DECLINED

        def one(name: str) -> NodeOutcome:
            return workflows.rollback_node(
                client, journal, name, flat(name),
                use_journal=not ctx.args.no_journal,
                guarded=apply.guarded(ctx))

        outcomes = apply.run_all(ctx, chosen.names, one, words=WORDS)
    return apply.report(ctx, outcomes, WORDS)


def _dry_run(ctx: Context, client: PlacementClient, journal: Journal,
             names: list[str], flat: Callable[[str], Layout]) -> Code:
    shown = []
    for name in names:
        state, plan = workflows.plan_rollback(
            client, journal, name, flat(name),
            use_journal=not ctx.args.no_journal)
        shown.append(plan_cmd.shown(ctx, state.records, plan, 'rollback'))
    return plan_cmd.finish(ctx, shown, 'rollback')
