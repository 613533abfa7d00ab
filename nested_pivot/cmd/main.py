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

"""``nested-pivot``: find, plan, apply and roll back pivots of compute nodes.

Options shared by every command are accepted before and after the command
name.  Errors are one line on stderr (``--debug`` adds the traceback), and a
JSON document ``{"error": ...}`` on stdout under ``--json``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import importlib.metadata
import os
import sys
import traceback
from typing import Any
from typing import NoReturn

from oslo_log import log as logging

from nested_pivot import exception
from nested_pivot import journal
from nested_pivot.cmd import access
from nested_pivot.cmd import apply
from nested_pivot.cmd import arguments
from nested_pivot.cmd import audit
from nested_pivot.cmd import check
from nested_pivot.cmd import codes
from nested_pivot.cmd import discover
from nested_pivot.cmd import document
from nested_pivot.cmd import logs
from nested_pivot.cmd import plan
from nested_pivot.cmd import request
from nested_pivot.cmd import rollback
from nested_pivot.cmd import selection
from nested_pivot.cmd import signals
from nested_pivot.cmd import status
from nested_pivot.cmd.codes import Code
from nested_pivot.cmd.context import Context

DESCRIPTION = ('Find, plan, apply and roll back pivots of compute nodes '
               'from flat root providers to nested ones.')
COMMANDS = (check, plan, apply, request, rollback, status, discover, audit)
DEFAULT_LAYOUTS = '/etc/nested_pivot/layouts.yaml'
LOG = logging.getLogger(__name__)
USAGE_ERRORS = (exception.NodeNotFound, exception.NodeSelectionError)
"""Errors that are the command line's: exit 64, as argparse's are."""


class Parser(argparse.ArgumentParser):
    """Usage errors exit with their own code, not argparse's 2 (which is
    "a node failed" here)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(Code.USAGE, f'{self.prog}: error: {message}\n')


def _defaults() -> dict[str, Any]:
    return {
        'config_file': [],
        'placement_db': os.environ.get('NESTED_PIVOT_PLACEMENT_DB'),
        'placement_db_wait': access.DEFAULT_WAIT,
        'state_dir': os.environ.get('NESTED_PIVOT_STATE_DIR',
                                    journal.DEFAULT_STATE_DIR),
        'layouts': None,
        'json': False, 'debug': False,
        'from_nova': False, 'nova_db': None, 'all_cells': False,
        'cell': [],
    }


def _common(after: bool) -> argparse.ArgumentParser:
    """The shared options.  After the command name they must not reset
    what was given before it: there they default to nothing, and
    --config-file collects into its own list, merged in :func:`parse`."""
    values = _defaults()

    def default(key: str) -> Any:
        return argparse.SUPPRESS if after else values[key]

    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group('Placement access and output')
    group.add_argument(
        '--config-file', action='append', metavar='PATH',
        dest='config_file_after' if after else 'config_file',
        default=argparse.SUPPRESS if after else [],
        help='config file with a [placement] group, e.g. '
             '/etc/nova/nova.conf (repeatable; online)')
    group.add_argument(
        '--placement-db', metavar='CONNECTION', default=default(
            'placement_db'),
        help='work offline on the Placement database itself (fast-forward '
             'upgrades, every service stopped); needs nested_pivot[offline]'
             ' (default: $NESTED_PIVOT_PLACEMENT_DB)')
    group.add_argument(
        '--placement-db-wait', metavar='SECONDS', type=arguments.seconds,
        default=default('placement_db_wait'),
        help=f'how long to wait for a --placement-db that does not answer '
             f'(default: {values["placement_db_wait"]:g})')
    group.add_argument(
        '--state-dir', metavar='DIR', default=default('state_dir'),
        help=f'where the journal lives (default: {values["state_dir"]})')
    group.add_argument(
        '--layouts', metavar='PATH', default=default('layouts'),
        help=f'layout file or directory of them (default: '
             f'$NESTED_PIVOT_LAYOUTS, else {DEFAULT_LAYOUTS}); not with '
             "nova's facts")
    nova = parser.add_argument_group("nova's facts (nested_pivot[nova])")
    nova.add_argument(
        '--from-nova', action='store_true', default=default('from_nova'),
        help="build the layouts and hints from nova's cell databases "
             'instead of --layouts (refused together): exact pivots, one '
             'rule per compute node.  With --config-file: every cell, '
             'through its [api_database] connection and the cell mappings, '
             'as nova-manage does; without [api_database], the one cell of '
             '[database]')
    nova.add_argument(
        '--nova-db', metavar='CONNECTION', default=default('nova_db'),
        help="one nova cell database, instead of the config file's "
             '(implies --from-nova)')
    nova.add_argument(
        '--cell', metavar='NAME', action='append',
        dest='cell_after' if after else 'cell',
        default=argparse.SUPPRESS if after else [],
        help="only nova's cell NAME, by name or uuid in the cell "
             'mappings: a command that selects nodes takes only the nodes '
             'of the cells given, the others read only those cells '
             '(repeatable; implies --from-nova)')
    nova.add_argument(
        '--all-cells', action='store_true', default=default('all_cells'),
        help='insist on every cell: fail without [api_database] in '
             '--config-file (implies --from-nova)')
    group.add_argument('--json', action='store_true', default=default(
        'json'), help='machine-readable output')
    group.add_argument('--debug', action='store_true', default=default(
        'debug'), help='show tracebacks and library logs')
    logs.add_arguments(parser, argparse.SUPPRESS if after else None)
    return parser


def _version() -> str:
    try:
        return importlib.metadata.version('nested_pivot')
    except importlib.metadata.PackageNotFoundError:
        return 'unknown'


def parser() -> argparse.ArgumentParser:
    main = Parser(prog='nested-pivot', parents=[_common(False)],
                  description=DESCRIPTION, epilog=codes.epilog(),
                  formatter_class=argparse.RawDescriptionHelpFormatter)
    main.add_argument('--version', action='version',
                      version=f'%(prog)s {_version()}')
    commands = main.add_subparsers(dest='command', metavar='COMMAND',
                                   required=True, parser_class=Parser)
    after = _common(True)
    for module in COMMANDS:
        module.add_parser(commands, after)
    return main


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    top = parser()
    args = top.parse_args(argv)
    args.config_file = [*args.config_file,
                        *vars(args).pop('config_file_after', [])]
    args.cell = [*args.cell, *vars(args).pop('cell_after', [])]
    selection.normalize(args)
    args.from_nova = bool(args.from_nova or args.nova_db or args.all_cells
                          or args.cell)
    args.layouts_ignored = ''
    if args.from_nova and args.layouts is not None:
        getattr(args, 'usage', top.error)(
            "--from-nova builds every node's layout from nova's facts and "
            f'would ignore --layouts {args.layouts}: give one of them. To '
            "add what nova's facts do not cover (a pGPU's VGPU), write "
            'them with nested-pivot discover --from-nova --output FILE, '
            'add the children to FILE and use --layouts FILE')
    if args.layouts is None:
        env = os.environ.get('NESTED_PIVOT_LAYOUTS')
        if env and args.from_nova:
            args.layouts_ignored = env
        args.layouts = env or DEFAULT_LAYOUTS
    return args


def main(argv: Sequence[str] | None = None) -> int:
    signals.install()
    args = parse(argv)
    ctx = Context(args, sys.stdout, sys.stderr)
    try:
        logs.setup(args)
        LOG.info('nested-pivot %s: %s', _version(),
                 access.mask(' '.join(sys.argv[1:] if argv is None
                                      else argv)))
        if args.layouts_ignored:
            ctx.warn(f'$NESTED_PIVOT_LAYOUTS ({args.layouts_ignored}) is '
                     "not read: the layouts come from nova's facts")
        code = int(args.run(ctx))
    except signals.Terminated:
        signals.stopping()
        ctx.fail('terminated (SIGTERM); rerun the same command to go on')
        code = Code.TERMINATED
    except KeyboardInterrupt:
        signals.stopping()
        ctx.fail('interrupted; rerun the same command to go on')
        code = Code.INTERRUPTED
    except BrokenPipeError:
        return _broken_pipe()
    except Exception as err:
        code = _error(ctx, err, args.debug)
    LOG.info('nested-pivot %s: exit %d', args.command, code)
    return code


def _broken_pipe() -> int:
    # The reader went away: say nothing more, and let no flush at exit
    # fail again on the closed pipe.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return Code.BROKEN_PIPE


def _error(ctx: Context, err: BaseException, debug: bool) -> int:
    if debug:
        ctx.err.write(access.mask(''.join(traceback.format_exception(err))))
    text = str(err) or type(err).__name__
    if not isinstance(err, exception.PivotError):
        text = f'{type(err).__name__}: {text}'
    text = access.mask(' '.join(text.split()))
    code = Code.USAGE if isinstance(err, USAGE_ERRORS) else Code.UNEXPECTED
    if ctx.args.json:
        ctx.emit(document.envelope(
            ctx, code, [], error=text,
            code=getattr(err, 'code', exception.PivotError.code)))
    LOG.error('%s', text)
    ctx.fail(text)
    return code


if __name__ == '__main__':
    sys.exit(main())
