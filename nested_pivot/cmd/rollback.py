"""``nested-pivot rollback NODE``: back to flat, through the engine.

Every allocation moves back to the root and the children are removed.  It
works from what Placement holds now, so it works even if the node changed
since its pivot; the journal's pre-image is shown for comparison.
"""

from __future__ import annotations

import argparse
from typing import Any

from nested_pivot.cmd.apply import pivot_node
from nested_pivot.cmd.codes import Code
from nested_pivot.cmd.context import Context
from nested_pivot.cmd.context import FLAT


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
        outcome = pivot_node(client, journal, ctx.args.node, FLAT, None)
    if ctx.args.json:
        ctx.emit({'node': outcome.node, 'result': outcome.result,
                  'detail': outcome.detail})
    else:
        words = {'done': 'rolled back to flat',
                 'already pivoted': 'already flat'}
        ctx.print(f'{outcome.node}: {words.get(outcome.result, "FAILED")}'
                  + (f': {outcome.detail}' if outcome.detail else ''))
    return Code.FAILURE if outcome.result == 'failed' else Code.SUCCESS
