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

"""``nested-pivot plan NODE``: the dry run, drawn."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from nested_pivot import engine
from nested_pivot import exception
from nested_pivot.cmd import render
from nested_pivot.cmd.arguments import node_name
from nested_pivot.cmd.codes import Code
from nested_pivot.cmd.context import Context
from nested_pivot.placement import operations
from nested_pivot.placement import read
from nested_pivot.placement import workflows
from nested_pivot.placement.operations import NodeState


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        'plan', parents=[common],
        help='show what a pivot of NODE would do; changes nothing',
        description='Draw NODE\'s tree now and after the pivot, and each '
                    'instance that would move. On a node that cannot be '
                    'pivoted, the instances that do not fit, each with what '
                    'it needs and the free room of each child (exit 2).')
    parser.add_argument('node', metavar='NODE', type=node_name,
                        help='node name or uuid')
    parser.set_defaults(run=run)


def run(ctx: Context) -> Code:
    ctx.read_layout_file()
    with ctx.client() as client:
        uuid, name, rule = ctx.node_rule(client, ctx.args.node)
        if rule is None:
            return _not_applicable(ctx, name, uuid)
        try:
            state, plan = operations.read_and_plan(
                client, uuid, rule.layout, rule.hints.get(name))
        except workflows.UNFIT as err:
            return _cannot_pivot(ctx, read.read_node(client, uuid), err)
    state_now = operations.classify(state.snapshot, plan, rule.layout)
    show(ctx, state.records, plan, 'apply', name)
    if state_now is NodeState.DOUBLE_COUNTED:
        ctx.err.write(f'{name} is double_counted: its root and the '
                      'layout\'s children both offer a class of the layout; '
                      'see the operator guide, "Recovery".\n')
        return Code.FAILURE
    return Code.SUCCESS


def show(ctx: Context, records: dict[str, engine.ConsumerRecord],
         plan: engine.ReshapePlan, *command: str) -> None:
    """The dry run of ``plan``, drawn or as JSON."""
    before = render.usage_before(plan.before, records)
    after = render.usage_after(before, plan)
    roles = ctx.roles(plan.node)
    changes = _changes(ctx, plan, records)
    if ctx.args.json:
        ctx.emit({'node': plan.node, 'uuid': plan.root,
                  'noop': plan.is_noop,
                  'before': _providers(plan.before, before),
                  'after': _providers(plan.after, after),
                  'moves': [dataclasses.asdict(m) for m in plan.moves],
                  'heals': [dataclasses.asdict(x) for x in plan.heals],
                  'changes': changes, 'nova': roles,
                  'reparented': dict(plan.reparented),
                  'renamed': {u: {'from': plan.before.providers[u].name,
                                  'to': name}
                              for u, name in sorted(plan.renamed.items())},
                  'consumers': list(plan.consumers),
                  'foreign': sorted(plan.foreign)})
        return
    branches = ctx.branches
    ctx.print(f'Node {plan.node} now:',
              *render.tree(plan.before, before, branches, plan.foreign),
              '', f'Node {plan.node} after:',
              *render.tree(plan.after, after, branches, plan.foreign), '')
    if plan.is_noop:
        ctx.print('Nothing to do: the node already has this layout.')
        return
    if plan.renamed:
        ctx.print(*render.renamed(plan), '')
    if plan.reparented:
        ctx.print(*render.reparented(plan), '')
    if plan.moves:
        movers = len({m.consumer for m in plan.moves})
        ctx.print(f'{workflows.plural(movers, "consumer")} move:',
                  *render.moves(plan, roles), '')
    if plan.heals:
        ctx.print(f'{workflows.plural(len(plan.heals), "allocation")} '
                  'healed (resources used but never held):',
                  *render.heals(plan), '')
    if changes:
        ctx.print(f'{workflows.plural(len(changes), "consumer")} whose '
                  'amounts change:', *render.changes(changes), '')
    moving = {c: r for c, r in roles.items() if ':' in r}
    if moving:
        ctx.print("Moves in progress, from nova's migration records:",
                  *render.table(['consumer', 'is'], sorted(
                      [c, r] for c, r in moving.items())), '')
    ctx.print('Dry run: nothing was changed. Apply with:',
              '  ' + ctx.command(*command))


def _changes(ctx: Context, plan: engine.ReshapePlan,
             records: dict[str, engine.ConsumerRecord]
             ) -> list[dict[str, Any]]:
    """Each consumer whose amounts change, before and after, and why when
    nova's facts say."""
    why = ctx.healed(plan.node)
    return [{'consumer': c.consumer, 'before': dict(c.before),
             'after': dict(c.after), 'why': why.get(c.consumer, '')}
            for c in engine.amount_changes(plan, records)]


def _not_applicable(ctx: Context, name: str, uuid: str) -> Code:
    """No rule: not applicable, or refused by its facts (exit 2)."""
    rules = ctx.rules
    refused = rules.refused.get(name) if rules is not None else None
    reason = rules.why_no_rule(name) if rules is not None else name
    state = NodeState.CANNOT_PIVOT if refused else NodeState.NOT_APPLICABLE
    # A node in no cell of nova that was read is not "nothing to do":
    # another cell may have it.
    unread = name in ctx.unread()
    if ctx.args.json:
        ctx.emit({'node': name, 'uuid': uuid, 'state': str(state),
                  'reason': reason, 'unread': unread})
    else:
        ctx.print(f'{name} ({uuid}): {state}: {reason}. '
                  + ('Nothing was changed.' if refused else
                     'Nothing was planned.' if unread else
                     'Nothing to plan.'))
    if refused:
        return Code.FAILURE
    return Code.WARNING if unread else Code.SUCCESS


def _cannot_pivot(ctx: Context, state: read.NodeRead,
                  err: exception.PivotError) -> Code:
    usage = render.usage_before(state.snapshot, state.records)
    unfit = err.unfit if isinstance(err, exception.CannotPivot) else ()
    if ctx.args.json:
        ctx.emit({'node': state.name, 'uuid': state.root,
                  'state': str(NodeState.CANNOT_PIVOT),
                  'reason': workflows.one_line(err),
                  'now': _providers(state.snapshot, usage),
                  'unfit': [dataclasses.asdict(u) for u in unfit]})
        return Code.FAILURE
    ctx.print(f'Node {state.name} now:',
              *render.tree(state.snapshot, usage, ctx.branches), '',
              f'{state.name} cannot be pivoted.')
    if isinstance(err, exception.CannotPivot) and unfit:
        ctx.print(*render.unfit(err), '',
                  'Moving these instances off the node (cold migration or '
                  'resize) makes room; hints can place them where the '
                  'hypervisor has them.')
    else:
        ctx.print(workflows.one_line(err))
    return Code.FAILURE


def _providers(snapshot: engine.Snapshot, usage: engine.Usage
               ) -> list[dict[str, Any]]:
    return [{'uuid': p.uuid, 'name': p.name, 'parent': p.parent,
             'traits': sorted(p.traits),
             'inventory': {rc: {**inv.as_dict(),
                                'used': usage[p.uuid].get(rc, 0)}
                           for rc, inv in sorted(p.inventory.items())}}
            for p in snapshot.providers.values()]
