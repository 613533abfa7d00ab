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

"""``nested-pivot plan NODE... | --all``: the dry run, drawn."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from nested_pivot import engine
from nested_pivot import exception
from nested_pivot import text
from nested_pivot.cmd import apply
from nested_pivot.cmd import render
from nested_pivot.cmd import selection
from nested_pivot.cmd.codes import Code
from nested_pivot.cmd.context import Context
from nested_pivot.layout import Layout
from nested_pivot.layoutfile import Layouts
from nested_pivot.placement import PlacementClient
from nested_pivot.service import reads
from nested_pivot.service.reads import FAILING
from nested_pivot.service.reads import NodeState


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        'plan', parents=[common],
        help='show what a pivot of the nodes would do; changes nothing',
        description='Draw each node\'s tree now and after the pivot, and '
                    'each instance that would move. On a node that cannot '
                    'be pivoted, the instances that do not fit, each with '
                    'what it needs and the free room of each child. Nodes '
                    'are selected as apply selects them. Exit 2 when a node '
                    'cannot be pivoted or is counted twice, else 0.')
    selection.add_arguments(parser, verb='plan',
                            every='every node a layout rule matches')
    parser.set_defaults(run=run)




def run(ctx: Context) -> Code:
    ctx.read_layout_file()
    with ctx.client() as client:
        chosen = selection.select(ctx, client)
        layouts = ctx.layouts(client, chosen.scope())
        shown = [_one(ctx, client, layouts, chosen.uuids[name], name)
                 for name in apply.pivotable(chosen, layouts)]
    return finish(ctx, shown, 'apply')


def _one(ctx: Context, client: PlacementClient, layouts: Layouts,
         uuid: str, name: str) -> dict[str, Any]:
    """One node's plan, drawn (text) and as its document entry."""
    rule = layouts.rule_for(name)
    if rule is None:
        return _not_applicable(ctx, layouts, name, uuid)
    try:
        state, plan = reads.read_and_plan(
            client, uuid, rule.layout, rule.hints.get(name))
    except reads.UNFIT as err:
        return _cannot_pivot(ctx, reads.read_node(client, uuid), err,
                             rule.layout)
    entry = shown(ctx, state.records, plan, 'apply')
    now = reads.classify(state.snapshot, plan, rule.layout)
    entry['state'] = str(now)
    if now is NodeState.DOUBLE_COUNTED:
        entry['reason'] = (f'{name} is double_counted: its root and the '
                           'layout\'s children both offer a class of the '
                           'layout; see the operator guide, "Recovery".')
        if not ctx.args.json:
            ctx.err.write(entry['reason'] + '\n')
    return entry


def shown(ctx: Context, records: dict[str, engine.ConsumerRecord],
          plan: engine.ReshapePlan, command: str) -> dict[str, Any]:
    """The dry run of ``plan``, drawn (text); its document entry."""
    before = render.usage_before(plan.before, records)
    after = render.usage_after(before, plan)
    roles = ctx.roles(plan.node)
    changes = _changes(ctx, plan, records)
    entry = _entry(plan.node, plan.root, state='', noop=plan.is_noop,
                   before=_providers(plan.before, before),
                   after=_providers(plan.after, after),
                   moves=[dataclasses.asdict(m) for m in plan.moves],
                   heals=[dataclasses.asdict(x) for x in plan.heals],
                   changes=changes, nova=roles,
                   reparented=dict(plan.reparented),
                   renamed={u: {'from': plan.before.providers[u].name,
                                'to': name}
                            for u, name in sorted(plan.renamed.items())},
                   consumers=list(plan.consumers),
                   foreign=sorted(plan.foreign))
    if command == 'rollback':
        entry['state'] = 'flat' if plan.is_noop else 'nested'
    if not ctx.args.json:
        _draw(ctx, plan, before, after, changes, roles)
    return entry


def _entry(node: str, uuid: str, **fields: Any) -> dict[str, Any]:
    """A node's entry, every key of the plan shape there."""
    return {'node': node, 'uuid': uuid, 'state': '', 'reason': '',
            'noop': False, 'before': [], 'after': [], 'moves': [],
            'heals': [], 'changes': [], 'nova': {}, 'reparented': {},
            'renamed': {}, 'consumers': [], 'foreign': [], 'unfit': [],
            'unread': False, **fields}


def _draw(ctx: Context, plan: engine.ReshapePlan, before: engine.Usage,
          after: engine.Usage, changes: list[dict[str, Any]],
          roles: dict[str, str]) -> None:
    branches = ctx.branches
    ctx.print(f'Node {plan.node} now:',
              *render.tree(plan.before, before, branches, plan.foreign),
              '', f'Node {plan.node} after:',
              *render.tree(plan.after, after, branches, plan.foreign), '')
    if plan.is_noop:
        ctx.print('Nothing to do: the node already has this layout.', '')
        return
    if plan.renamed:
        ctx.print(*render.renamed(plan), '')
    if plan.reparented:
        ctx.print(*render.reparented(plan), '')
    if plan.moves:
        movers = len({m.consumer for m in plan.moves})
        ctx.print(f'{text.plural(movers, "consumer")} move:',
                  *render.moves(plan, roles), '')
    if plan.heals:
        ctx.print(f'{text.plural(len(plan.heals), "allocation")} '
                  'healed (resources used but never held):',
                  *render.heals(plan), '')
    if changes:
        ctx.print(f'{text.plural(len(changes), "consumer")} whose '
                  'amounts change:', *render.changes(changes), '')
    moving = {c: r for c, r in roles.items() if ':' in r}
    if moving:
        ctx.print("Moves in progress, from nova's migration records:",
                  *render.table(['consumer', 'is'], sorted(
                      [c, r] for c, r in moving.items())), '')


def _changes(ctx: Context, plan: engine.ReshapePlan,
             records: dict[str, engine.ConsumerRecord]
             ) -> list[dict[str, Any]]:
    """Each consumer whose amounts change, before and after, and why when
    nova's facts say."""
    why = ctx.healed(plan.node)
    return [{'consumer': c.consumer, 'before': dict(c.before),
             'after': dict(c.after), 'why': why.get(c.consumer, '')}
            for c in engine.amount_changes(plan, records)]


def finish(ctx: Context, entries: list[dict[str, Any]],
           command: str) -> Code:
    """The document, or the closing lines; the exit code: 2 when a node
    cannot be pivoted or is counted twice."""
    failing = {str(s) for s in FAILING}
    code = (Code.FAILURE if any(e['state'] in failing for e in entries)
            else Code.WARNING if any(e['unread'] for e in entries)
            else Code.SUCCESS)
    if ctx.args.json:
        ctx.report(code, entries)
        return code
    if len(entries) > 1:
        ctx.print(_summary(entries))
    if any(not e['noop'] and e['state'] not in failing and e['before']
           for e in entries):
        ctx.print('Dry run: nothing was changed. Apply with:',
                  '  ' + ctx.command(command, *_selected(ctx)))
    return code


def _summary(entries: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for e in entries:
        counts[e['state']] = counts.get(e['state'], 0) + 1
    said = ', '.join(f'{n} {s}' for s, n in sorted(counts.items()))
    return f'{text.plural(len(entries), "node")} planned: {said}.'


def _selected(ctx: Context) -> list[str]:
    """The command line's node selection, to repeat it."""
    args = ctx.args
    words = [*args.nodes, *(['--all'] if args.all else [])]
    for option in ('cell', 'aggregate'):
        for value in getattr(args, option):
            words += [f'--{option}', value]
    return words


def _not_applicable(ctx: Context, layouts: Layouts, name: str,
                    uuid: str) -> dict[str, Any]:
    """No rule: not applicable, or refused by its facts (exit 2)."""
    refused = layouts.refused.get(name)
    reason = layouts.why_no_rule(name)
    state = NodeState.CANNOT_PIVOT if refused else NodeState.NOT_APPLICABLE
    # A node in no cell of nova that was read is not "nothing to do":
    # another cell may have it.
    unread = name in ctx.unread()
    if not ctx.args.json:
        ctx.print(f'{name} ({uuid}): {state}: {reason}. '
                  + ('Nothing was changed.' if refused else
                     'Nothing was planned.' if unread else
                     'Nothing to plan.'), '')
    return _entry(name, uuid, state=str(state), reason=reason,
                  noop=not refused, unread=unread)


def _cannot_pivot(ctx: Context, state: reads.NodeRead,
                  err: exception.PivotError,
                  layout: Layout) -> dict[str, Any]:
    usage = render.usage_before(state.snapshot, state.records)
    unfit = err.unfit if isinstance(err, exception.CannotPivot) else ()
    entry = _entry(state.name, state.root,
                   state=str(NodeState.CANNOT_PIVOT),
                   reason=text.one_line(err),
                   before=_providers(state.snapshot, usage),
                   unfit=[dataclasses.asdict(u) for u in unfit])
    if ctx.args.json:
        return entry
    ctx.print(f'Node {state.name} now:',
              *render.tree(state.snapshot, usage, ctx.branches), '',
              f'{state.name} cannot be pivoted.')
    if isinstance(err, exception.CannotPivot) and unfit:
        ctx.print(*render.unfit(err), '', *_advice(state.name, unfit,
                                                  layout), '')
    else:
        ctx.print(text.one_line(err), '')
    return entry


def _advice(node: str, unfit: tuple[exception.Unfit, ...],
            layout: Layout) -> list[str]:
    """What makes room: moving instances off, or hints; for an instance
    that no child could hold even empty, only moving it (or larger
    children) helps."""
    capacity = {f'{node}_{c.name}': c.inventory for c in layout.children}
    too_large = sorted(u.consumer for u in unfit
                       if not _holdable(u, capacity))
    lines = []
    if len(too_large) < len(unfit):
        lines.append('Moving these instances off the node (cold migration '
                     'or resize) makes room; hints can place them where '
                     'the hypervisor has them.')
    if too_large:
        lines.append(
            f'No child of the layout can hold '
            f'{"it" if len(unfit) == 1 else ", ".join(too_large)} even '
            'when empty: hints cannot help. Move '
            f'{"it" if len(too_large) == 1 else "them"} off the node (cold '
            'migration or resize), or give the layout larger children.')
    return lines


def _holdable(unfit: exception.Unfit,
              capacity: dict[str, Any]) -> bool:
    """Could one of the candidate children hold what ``unfit`` needs,
    if nothing else were on it?"""
    return any(
        all(rc in capacity.get(name, {})
            and capacity[name][rc].capacity >= amount
            for rc, amount in unfit.needs.items())
        for name in unfit.free)


def _providers(snapshot: engine.Snapshot, usage: engine.Usage
               ) -> list[dict[str, Any]]:
    return [{'uuid': p.uuid, 'name': p.name, 'parent': p.parent,
             'traits': sorted(p.traits),
             'inventory': {rc: {**inv.as_dict(),
                                'used': usage[p.uuid].get(rc, 0)}
                           for rc, inv in sorted(p.inventory.items())}}
            for p in snapshot.providers.values()]
