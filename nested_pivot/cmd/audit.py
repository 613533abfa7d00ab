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

"""``nested-pivot audit NODE... | --all``: allocations nova does not
account for, on each node's whole tree, and ``--fix`` to remove them.

nova's facts are required (``--nova-db``, ``--all-cells``, or nova.conf's
``[database] connection`` through ``--config-file``).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
import dataclasses
from typing import Any

from nested_pivot import audit
from nested_pivot import exception
from nested_pivot import text
from nested_pivot.audit import Fixed
from nested_pivot.audit import FixOutcome
from nested_pivot.audit import NodeAudit
from nested_pivot.cmd import access
from nested_pivot.cmd import render
from nested_pivot.cmd.arguments import node_name
from nested_pivot.cmd.codes import Code
from nested_pivot.cmd.context import Context
from nested_pivot.novadb.consumers import NovaConsumers
from nested_pivot.placement.http import PlacementClient
from nested_pivot.service import reads

DESCRIPTION = (
    'List the consumers that hold allocations anywhere in a node\'s tree '
    '(children included) and are neither a live instance of the node in '
    'nova\'s database nor part of a move in progress involving it, with '
    'nova\'s word on each (deleted, unknown, elsewhere, stale_migration, '
    'busy), and the amounts held on a provider that has no inventory of '
    'their class. With --fix, remove those consumers\' allocations from '
    'the node\'s root and from the children nested_pivot created, each '
    'through a write guarded by its consumer generation; their '
    'allocations elsewhere are kept, and a consumer that changes '
    'meanwhile, or that nova needs (busy), is left alone. Exit 0 when '
    'nothing is found, 1 when something is, 2 when a node cannot be '
    'audited or a removal fails.')


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        'audit', parents=[common], description=DESCRIPTION,
        help="allocations on a node's tree that nova does not account for "
             '(deleted, unknown or moved instances); --fix removes them')
    parser.add_argument('nodes', metavar='NODE', nargs='*', type=node_name,
                        help='node name or uuid (repeatable)')
    parser.add_argument('--all', action='store_true',
                        help='every compute node in Placement')
    parser.add_argument('--fix', action='store_true',
                        help="remove the listed consumers' allocations on "
                             'the node (guarded by their consumer '
                             'generation)')
    parser.add_argument('--yes', action='store_true',
                        help='with --fix, do not ask for confirmation')
    parser.set_defaults(run=run, usage=parser.error)


@dataclasses.dataclass
class _Run:
    audits: list[NodeAudit] = dataclasses.field(default_factory=list)
    unknown: dict[str, str] = dataclasses.field(default_factory=dict)
    fixes: dict[str, tuple[FixOutcome, ...]] = dataclasses.field(
        default_factory=dict)
    named: bool = True


def run(ctx: Context) -> Code:
    if bool(ctx.args.nodes) == ctx.args.all:
        ctx.args.usage('name the nodes to audit, or give --all')
    ctx.args.from_nova = True  # nova's facts are what it audits against
    # nova first: a database that cannot be read fails before Placement
    # is reached.
    nova = NovaConsumers.from_source(ctx.nova_source())
    # Offline nothing boots; online, nova's API database shows the
    # instances being booted, which an unknown consumer may be.
    unknown_fixable = bool(ctx.args.placement_db) or nova.api
    found = _Run(named=not ctx.args.all)
    with ctx.client() as client:
        client.version()
        for node in _nodes(ctx, client, found):
            found.audits.append(audit.audit_node(
                client, node, nova, unknown_fixable=unknown_fixable))
        if ctx.args.fix and _fixable(found.audits):
            if not ctx.confirm(_question(ctx, found.audits)):
                _report(ctx, found)
                return Code.DECLINED
            for node_audit in found.audits:
                if node_audit.findings:
                    found.fixes[node_audit.uuid] = audit.fix_node(
                        client, node_audit, nova,
                        unknown_fixable=unknown_fixable)
    return _report(ctx, found)


def _nodes(ctx: Context, client: PlacementClient, found: _Run) -> list[str]:
    """The uuids to audit, each once; the named ones Placement does not
    have go to ``found.unknown``."""
    if ctx.args.all:
        return [uuid for uuid, _ in reads.list_roots(client)]
    uuids: list[str] = []
    for node in ctx.args.nodes:
        try:
            uuid, _ = reads.find_node(client, node)
        except exception.PivotError as err:
            found.unknown[node] = text.one_line(err)
            continue
        if uuid not in uuids:
            uuids.append(uuid)
    return uuids


def _fixable(audits: list[NodeAudit]) -> int:
    return sum(f.fixable for a in audits for f in a.findings)


def _question(ctx: Context, audits: list[NodeAudit]) -> str:
    nodes = [a.node for a in audits if any(f.fixable for f in a.findings)]
    where = (f'offline, in {access.mask(ctx.args.placement_db)}'
             if ctx.args.placement_db else 'online')
    return (f'Remove the allocations of '
            f'{text.plural(_fixable(audits), "consumer")} on '
            f'{", ".join(nodes)} ({where})?')


def code_of(found: _Run) -> Code:
    """2 when a named node could not be audited or a removal failed; 1
    when anything was found; else 0."""
    failed = any(o.result is Fixed.FAILED
                 for outcomes in found.fixes.values() for o in outcomes)
    if found.unknown or failed or (found.named and any(
            a.skipped for a in found.audits)):
        return Code.FAILURE
    if any(a.findings or a.strays for a in found.audits):
        return Code.WARNING
    return Code.SUCCESS


def _report(ctx: Context, found: _Run) -> Code:
    code = code_of(found)
    if ctx.args.json:
        nodes, fields = document(found, code)
        ctx.report(code, nodes, **fields)
    else:
        _say(ctx, found, code)
    return code


# -- JSON ---------------------------------------------------------------

def document(found: _Run, code: Code
             ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A run's nodes and the fields its JSON document adds to the
    envelope (:mod:`.document`)."""
    nodes = [_node_document(a, found.fixes.get(a.uuid, ()))
             for a in found.audits]
    nodes += [{'node': ref, 'uuid': None, 'error': why, 'skipped': '',
               'providers': {}, 'findings': [], 'strays': []}
              for ref, why in found.unknown.items()]
    outcomes = [o for fixed in found.fixes.values() for o in fixed]
    return nodes, {
        'code': int(code),
        'findings': sum(len(a.findings) for a in found.audits),
        'strays': sum(len(a.strays) for a in found.audits),
        'fixed': {str(r): sum(o.result is r for o in outcomes)
                  for r in Fixed},
    }


def _node_document(found: NodeAudit, fixes: tuple[FixOutcome, ...]
                   ) -> dict[str, Any]:
    fixed = {o.consumer: o for o in fixes}
    return {
        'node': found.node, 'uuid': found.uuid, 'error': '',
        'skipped': found.skipped, 'providers': dict(found.names),
        'findings': [_finding_document(f, fixed.get(f.consumer))
                     for f in found.findings],
        'strays': [dataclasses.asdict(s) for s in found.strays],
    }


def _finding_document(found: audit.Finding, fix: FixOutcome | None
                      ) -> dict[str, Any]:
    return {
        'consumer': found.consumer, 'state': str(found.state),
        'nova': found.said, 'held': _plain(found.held),
        'consumer_generation': found.generation,
        'removable': sorted(found.removable), 'fixable': found.fixable,
        'why_not': found.why_not,
        'fix': None if fix is None else {
            'result': str(fix.result), 'detail': fix.detail,
            'removed': _plain(fix.removed), 'kept': _plain(fix.kept)},
    }


def _plain(held: audit.model.Held) -> dict[str, dict[str, int]]:
    return {p: dict(r) for p, r in sorted(held.items())}


# -- text ---------------------------------------------------------------

def _say(ctx: Context, found: _Run, code: Code) -> None:
    for ref, why in found.unknown.items():
        ctx.print(f'{ref}: not audited: {why}')
    for node_audit in found.audits:
        _say_node(ctx, node_audit, found.fixes.get(node_audit.uuid))
    ctx.print('', _summary(found))
    pending = [a.node for a in found.audits
               if any(f.fixable for f in a.findings)]
    if pending and not found.fixes:
        ctx.print('Remove them (guarded, each consumer\'s allocations '
                  'elsewhere kept) with:',
                  '  ' + ctx.command('audit', *pending, '--fix'))
    if any(a.strays for a in found.audits):
        ctx.print('Amounts held without inventory are claims the pivot '
                  'did not move (a claim racing the reshape): run '
                  'nested-pivot apply on those nodes again to move them.')
    if code is Code.SUCCESS:
        ctx.print('Nothing to do.')


def _say_node(ctx: Context, found: NodeAudit,
              fixes: tuple[FixOutcome, ...] | None) -> None:
    head = f'{found.node} ({found.uuid})'
    if found.skipped:
        ctx.print(f'{head}: {found.skipped}')
        return
    if not found.findings and not found.strays:
        ctx.print(f'{head}: clean')
        return
    names = found.names
    ctx.print(f'{head}: {text.plural(len(found.findings), "consumer")}'
              ' nova does not account for'
              + (f', {text.plural(len(found.strays), "amount")} held '
                 'without inventory' if found.strays else ''))
    fixed = {o.consumer: o for o in fixes or ()}
    rows = []
    for item in found.findings:
        outcome = fixed.get(item.consumer)
        if outcome is not None:
            then = f'{outcome.result}' + (f': {outcome.detail}'
                                          if outcome.detail else '')
        else:
            then = _would(item, names)
        rows.append([item.consumer, item.state, item.said,
                     _held(item.held, names), then])
    if rows:
        ctx.print(*('  ' + line for line in render.table(
            ['consumer', 'state', 'nova says', 'holds',
             'fix' if fixes is not None else '--fix would'], rows)))
    if found.strays:
        ctx.print(*('  ' + line for line in render.table(
            ['provider', 'consumer', 'class', 'amount (no inventory)'],
            [[names.get(s.provider, s.provider), s.consumer,
              s.resource_class, s.amount] for s in found.strays])))


def _would(item: audit.Finding, names: Mapping[str, str]) -> str:
    if not item.fixable:
        return f'left alone: {item.why_not}'
    kept = set(item.held) - item.removable
    return ('removes it from ' + ', '.join(sorted(
        names.get(p, p) for p in item.removable))
        + ('; keeps the rest' if kept else ''))


def _held(held: audit.model.Held, names: Mapping[str, str]) -> str:
    return '; '.join(f'{names.get(p, p)}: {render.amounts(r)}'
                     for p, r in sorted(held.items(),
                                        key=lambda i: names.get(i[0], i[0])))


def _summary(found: _Run) -> str:
    audited = [a for a in found.audits if not a.skipped]
    findings = sum(len(a.findings) for a in audited)
    strays = sum(len(a.strays) for a in audited)
    with_findings = sum(bool(a.findings or a.strays) for a in audited)
    parts = [f'{text.plural(len(audited), "node")} audited',
             f'{text.plural(findings, "consumer")} found on '
             f'{text.plural(with_findings, "node")}']
    if strays:
        parts.append(f'{text.plural(strays, "amount")} held without '
                     'inventory')
    skipped = len(found.audits) - len(audited)
    if skipped:
        parts.append(f'{text.plural(skipped, "node")} not in nova')
    if found.unknown:
        parts.append(f'{text.plural(len(found.unknown), "node")} not '
                     'found')
    outcomes = [o for fixed in found.fixes.values() for o in fixed]
    if found.fixes:
        parts.append(', '.join(
            f'{sum(o.result is r for o in outcomes)} {r}' for r in Fixed))
    return '; '.join(parts) + '.'
