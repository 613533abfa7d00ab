"""``nested-pivot status NODE``: the node's state and its journal."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from nested_pivot.cmd import render
from nested_pivot.cmd.codes import Code
from nested_pivot.cmd.context import Context
from nested_pivot.placement import operations


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        'status', parents=[common],
        help="NODE's state against its layout, and its journal")
    parser.add_argument('node', metavar='NODE')
    parser.set_defaults(run=run)


def run(ctx: Context) -> Code:
    with ctx.client() as client:
        name, rule = ctx.node_rule(client, ctx.args.node)
        found = operations.status(client, ctx.args.node, rule.layout)
    entries = ctx.journal().entries(name)
    if ctx.args.json:
        ctx.emit({'node': found.node, 'uuid': found.uuid,
                  'state': str(found.state), 'consumers': found.consumers,
                  'moves': dict(found.moves),
                  'journal': [dict(e.body, path=str(e.path))
                              for e in entries]})
        return Code.SUCCESS
    moves = ' '.join(f'{rc}={n}' for rc, n in sorted(found.moves.items()))
    ctx.print(f'{found.node} ({found.uuid}): {found.state}'
              + (f', {found.consumers} consumers would move: {moves}'
                 if found.consumers else ''), '',
              f'Journal ({ctx.journal().state_dir}):')
    rows = [[e.time, e.kind, _summary(e.body), e.path.name]
            for e in entries]
    ctx.print(*(render.table(['time', 'kind', 'summary', 'file'], rows)
                if rows else ['  (no entries)']))
    return Code.SUCCESS


def _summary(body: Mapping[str, Any]) -> str:
    if body.get('kind') == 'pre-image':
        return (f'{len(body.get("consumers", {}))} consumers, '
                f'{len(body.get("moves", []))} moves, '
                f'{len(body.get("tree", []))} providers')
    return f'{body.get("outcome", "")} {body.get("detail", "")}'.strip()
