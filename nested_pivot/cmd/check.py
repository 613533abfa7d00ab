"""``nested-pivot check``: which nodes need a pivot, and can they have it."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from nested_pivot import exception
from nested_pivot import microversion
from nested_pivot.cmd import render
from nested_pivot.cmd.codes import Code
from nested_pivot.cmd.context import Context
from nested_pivot.conf.compute import REQUEST_TRAIT
from nested_pivot.placement import operations
from nested_pivot.placement import PlacementClient
from nested_pivot.placement import snapshot

PENDING = ('flat', 'partial', 'requested')
UNFIT = (exception.CannotPivot, exception.InvalidLayout,
         exception.InvalidTree, exception.InvalidHint)


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        'check', parents=[common],
        help='classify every compute node: flat, partial, pivoted, '
             'not_applicable or requested')
    parser.set_defaults(run=run)


@dataclasses.dataclass
class Row:
    node: str
    uuid: str
    state: str
    consumers: int = 0
    moves: dict[str, int] = dataclasses.field(default_factory=dict)
    reason: str = ''


def run(ctx: Context) -> Code:
    layouts = ctx.layouts()
    with ctx.client() as client:
        checks = _preflight(client)
        _say_checks(ctx, checks)
        roots = snapshot.list_roots(client)
        rows = client.map(lambda r: _row(client, layouts, *r), roots)
    code = _code(checks, rows)
    if ctx.args.json:
        ctx.emit({'placement': checks, 'code': int(code),
                  'nodes': [dataclasses.asdict(r) for r in rows]})
    else:
        _say_rows(ctx, rows, code)
    return code


def _preflight(client: PlacementClient) -> dict[str, Any]:
    version = client.version()
    return {'microversion': microversion.text(version),
            'reshaper_policy': operations.may_reshape(client)}


def _say_checks(ctx: Context, checks: dict[str, Any]) -> None:
    if ctx.args.json:
        return
    ctx.print(f'Placement microversion {checks["microversion"]} '
              f'(1.30 needed): OK')
    if checks['reshaper_policy']:
        ctx.print('Reshaper policy: OK (the credentials have the service '
                  'role)')
    else:
        ctx.print('Reshaper policy: FAILED: the credentials lack the '
                  '"service" role that placement:reshaper:reshape needs; '
                  'no pivot can be applied with them')


def _row(client: PlacementClient, layouts: Any, uuid: str,
         name: str) -> Row:
    rule = layouts.rule_for(name)
    if rule is None:
        return Row(name, uuid, 'not_applicable', reason='no layout rule')
    try:
        found = operations.status(client, uuid, rule.layout)
    except UNFIT as err:
        return Row(name, uuid, 'cannot_pivot', reason=str(err))
    state = str(found.state)
    if state in ('flat', 'partial') and REQUEST_TRAIT in \
            found.plan.before.root_provider.traits:
        state = 'requested'
    return Row(name, uuid, state, found.consumers, dict(found.moves))


def _code(checks: dict[str, Any], rows: list[Row]) -> Code:
    if not checks['reshaper_policy'] or any(
            r.state == 'cannot_pivot' for r in rows):
        return Code.FAILURE
    if any(r.state in PENDING for r in rows):
        return Code.WARNING
    return Code.SUCCESS


def _say_rows(ctx: Context, rows: list[Row], code: Code) -> None:
    ctx.print('', *render.table(
        ['node', 'state', 'consumers', 'would move', 'reason'],
        [[r.node, r.state, r.consumers,
          ' '.join(f'{rc}={n}' for rc, n in sorted(r.moves.items())),
          r.reason] for r in rows]))
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.state] = counts.get(r.state, 0) + 1
    summary = ', '.join(f'{n} {s}' for s, n in sorted(counts.items()))
    verdict = {Code.SUCCESS: 'Nothing to do',
               Code.WARNING: 'Work pending: run nested-pivot apply',
               Code.FAILURE: 'Some nodes cannot be pivoted (see above)'}
    ctx.print('', f'{len(rows)} nodes: {summary or "none"}. '
                  f'{verdict[code]}.')
