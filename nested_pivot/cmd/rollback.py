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

"""``nested-pivot rollback NODE``: back to flat, through the engine.

Every allocation moves back to the root and the children the node's layout
owns are removed; other services' providers stay.  The root gets back the
flat records the journal kept from before the pivot; without a journal, or
when they no longer fit what runs on the node, the children's records
summed.  It works from what Placement holds now, so it works even if the
node changed since its pivot.
"""

from __future__ import annotations

import argparse
from typing import Any

from nested_pivot.cmd import apply
from nested_pivot.cmd import plan as plan_cmd
from nested_pivot.cmd.arguments import node_name
from nested_pivot.cmd.codes import Code
from nested_pivot.cmd.context import Context
from nested_pivot.placement import read
from nested_pivot.placement import workflows
from nested_pivot.placement.workflows import Result


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        'rollback', parents=[common],
        help='move NODE back to the flat layout and remove the children '
             'its layout owns')
    parser.add_argument('node', metavar='NODE', type=node_name,
                        help='node name or uuid')
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
        _, name = read.find_node(client, ctx.args.node)
        flat = ctx.flat_layout(name, client)
        if ctx.args.dry_run:
            return _dry_run(ctx, client, journal, name, flat)
        if not ctx.confirm(f'Roll {name} back to flat?'):
            return Code.DECLINED
        outcome = workflows.rollback_node(
            client, journal, name, flat,
            use_journal=not ctx.args.no_journal,
            guarded=apply.guarded(ctx))
    return apply.report(ctx, [outcome], {Result.DONE: 'rolled back to flat',
                                         Result.UNCHANGED: 'already flat'})


def _dry_run(ctx: Context, client: Any, journal: Any, name: str,
             flat: Any) -> Code:
    state, plan = workflows.plan_rollback(
        client, journal, name, flat, use_journal=not ctx.args.no_journal)
    plan_cmd.show(ctx, state.records, plan, 'rollback', name)
    return Code.SUCCESS
