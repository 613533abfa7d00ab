"""``nested-pivot plan NODE``: the dry run, drawn."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from nested_pivot.cmd import render
from nested_pivot.cmd.codes import Code
from nested_pivot.cmd.context import Context
from nested_pivot.engine.model import Snapshot
from nested_pivot.placement import operations


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        'plan', parents=[common],
        help='show what a pivot of NODE would do; changes nothing')
    parser.add_argument('node', metavar='NODE', help='node name or uuid')
    parser.set_defaults(run=run)


def run(ctx: Context) -> Code:
    with ctx.client() as client:
        name, rule = ctx.node_rule(client, ctx.args.node)
        state, plan = operations.read_and_plan(
            client, ctx.args.node, rule.layout, ctx.hints(rule, name))
    before = render.usage_before(plan.before, state.allocations)
    after = render.usage_after(before, plan.moves, plan.after)
    if ctx.args.json:
        ctx.emit({'node': plan.node, 'uuid': plan.root,
                  'noop': plan.is_noop,
                  'before': _providers(plan.before, before),
                  'after': _providers(plan.after, after),
                  'moves': [dataclasses.asdict(m) for m in plan.moves],
                  'consumers': list(plan.consumers)})
        return Code.SUCCESS
    ctx.print(f'Node {plan.node} now:', *render.tree(plan.before, before),
              '', f'Node {plan.node} after the pivot:',
              *render.tree(plan.after, after), '')
    if plan.is_noop:
        ctx.print('Nothing to do: the node already has this layout.')
        return Code.SUCCESS
    ctx.print(f'{len(plan.consumers)} consumers move:',
              *render.moves(plan), '',
              'Dry run: nothing was changed. Apply with: nested-pivot '
              f'apply {plan.node}')
    return Code.SUCCESS


def _providers(snapshot: Snapshot, usage: render.Usage
               ) -> list[dict[str, Any]]:
    return [{'uuid': p.uuid, 'name': p.name, 'parent': p.parent,
             'traits': sorted(p.traits),
             'inventory': {rc: {**inv.as_dict(),
                                'used': usage[p.uuid].get(rc, 0)}
                           for rc, inv in sorted(p.inventory.items())}}
            for p in snapshot.providers.values()]
