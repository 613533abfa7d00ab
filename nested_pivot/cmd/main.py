"""``nested-pivot``: find, plan, apply and roll back pivots of compute nodes.

Options shared by every command are accepted before and after the command
name.  Errors are one line on stderr (``--debug`` adds the traceback).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import logging
import os
import sys
import traceback

from nested_pivot import exception
from nested_pivot import journal
from nested_pivot.cmd import apply
from nested_pivot.cmd import check
from nested_pivot.cmd import discover
from nested_pivot.cmd import plan
from nested_pivot.cmd import request
from nested_pivot.cmd import rollback
from nested_pivot.cmd import status
from nested_pivot.cmd.codes import Code
from nested_pivot.cmd.context import Context

DESCRIPTION = ('Find, plan, apply and roll back pivots of compute nodes '
               'from flat root providers to nested ones.')
COMMANDS = (check, plan, apply, request, rollback, status, discover)
DEFAULT_LAYOUTS = '/etc/nested_pivot/layouts.yaml'


def _common(defaults: bool) -> argparse.ArgumentParser:
    """The shared options; after the command name they must not reset
    what was given before it, hence SUPPRESS there."""
    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group('Placement access and output')
    group.add_argument(
        '--config-file', action='append', metavar='PATH',
        default=default([]),
        help='config file with a [placement] group, e.g. '
             '/etc/nova/nova.conf (repeatable)')
    group.add_argument(
        '--placement-db', metavar='CONNECTION',
        default=default(os.environ.get('NESTED_PIVOT_PLACEMENT_DB')),
        help='work offline on the Placement database itself (fast-forward '
             'upgrades, every service stopped); needs nested_pivot[offline]')
    group.add_argument(
        '--state-dir', metavar='DIR',
        default=default(os.environ.get('NESTED_PIVOT_STATE_DIR',
                                       journal.DEFAULT_STATE_DIR)),
        help='where the journal of pre-images lives (default: %(default)s)')
    group.add_argument(
        '--layouts', metavar='PATH',
        default=default(os.environ.get('NESTED_PIVOT_LAYOUTS',
                                       DEFAULT_LAYOUTS)),
        help='layout file or directory of them (default: %(default)s)')
    group.add_argument('--json', action='store_true',
                       default=default(False),
                       help='machine-readable output')
    group.add_argument('--debug', action='store_true',
                       default=default(False),
                       help='show tracebacks and library logs')
    return parser


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog='nested-pivot', parents=[_common(True)],
        description=DESCRIPTION)
    commands = main.add_subparsers(dest='command', metavar='COMMAND',
                                   required=True)
    after = _common(False)
    for module in COMMANDS:
        module.add_parser(commands, after)
    return main


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug
                        else logging.CRITICAL)
    ctx = Context(args, sys.stdout, sys.stderr)
    try:
        return int(args.run(ctx))
    except KeyboardInterrupt:
        ctx.fail('interrupted; rerun the same command to go on')
        return Code.INTERRUPTED
    except exception.PivotError as err:
        return _error(ctx, err, args.debug)
    except Exception as err:
        return _error(ctx, err, args.debug)


def _error(ctx: Context, err: BaseException, debug: bool) -> int:
    if debug:
        traceback.print_exc(file=ctx.err)
    text = str(err) or type(err).__name__
    if not isinstance(err, exception.PivotError):
        text = f'{type(err).__name__}: {text}'
    ctx.fail(' '.join(text.split()))
    return Code.UNEXPECTED


if __name__ == '__main__':
    sys.exit(main())
