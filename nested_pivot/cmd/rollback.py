"""``nested-pivot rollback NODE``: back to flat, through the engine.

Every allocation moves back to the root and the children the node's layout
owns are removed; other services' providers stay.  The root gets back the
flat records the journal kept from before the pivot; without a journal, or
when they no longer fit what runs on the node, the children's records
summed.  It works from what Placement holds now, so it
works even if the node changed since its pivot.
"""

from __future__ import annotations

import argparse
from typing import Any

from nested_pivot.cmd.apply import pivot_node
from nested_pivot.cmd.codes import Code
from nested_pivot.cmd.context import Context
from nested_pivot.placement import snapshot


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        'rollback', parents=[common],
        help='move NODE back to the flat layout and remove its children')
    parser.add_argument('node', metavar='NODE')
    parser.add_argument('--yes', action='store_true',
                        help='do not ask for confirmation')
    parser.set_defaults(run=run)


def run(ctx: Context) -> Code:
    journal = ctx.journal()
    with ctx.client() as client:
        client.version()
        if not ctx.confirm(f'Roll {ctx.args.node} back to flat?'):
            return Code.FAILURE
        _, name = snapshot.find_node(client, ctx.args.node)
        flat = ctx.flat_layout(name)
        records = journal.flat_records(name)
        outcome = pivot_node(client, journal, name, flat, None, records)
        if outcome.result == 'failed' and records:
            ctx.print(f'{name}: the flat records of the journal do not fit '
                      f'({outcome.detail}); using the children\'s records '
                      'summed.')
            outcome = pivot_node(client, journal, name, flat, None)
    if ctx.args.json:
        ctx.emit({'node': outcome.node, 'result': outcome.result,
                  'detail': outcome.detail})
    else:
        words = {'done': 'rolled back to flat',
                 'already pivoted': 'already flat'}
        ctx.print(f'{outcome.node}: {words.get(outcome.result, "FAILED")}'
                  + (f': {outcome.detail}' if outcome.detail else ''))
    return Code.FAILURE if outcome.result == 'failed' else Code.SUCCESS
