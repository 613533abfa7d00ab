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

"""``nested-pivot discover``: write this host's layout from sysfs, or every
compute node's from nova's cell database."""

from __future__ import annotations

import argparse
from pathlib import Path
import socket
from typing import Any

from nested_pivot import discover as sysfs
from nested_pivot import exception
from nested_pivot import layoutfile
from nested_pivot import novadb
from nested_pivot.cmd import access
from nested_pivot.cmd import arguments
from nested_pivot.cmd.codes import Code
from nested_pivot.cmd.context import Context


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        'discover', parents=[common],
        help="write this host's layout (NUMA cells, SR-IOV PFs, mdev GPUs) "
             "from sysfs, or with --nova-db (or --config-file nova.conf) "
             "every compute node's layout and hints from nova's cell "
             'database',
        description='From sysfs (the default): this host\'s layout. With '
                    '--nova-db, --from-nova, --cell, --all-cells or '
                    '--config-file: one rule per compute node of nova\'s '
                    'cell database(s) (every cell with [api_database]), '
                    'with a hint per instance; checked against Placement '
                    'when --placement-db (or the config file\'s [placement] '
                    'credentials) reach it. A summary goes to stderr.')
    parser.add_argument('--output', metavar='FILE',
                        help='write here instead of stdout')
    parser.add_argument('--sysfs', default='/sys', metavar='DIR',
                        help='sysfs root (default: %(default)s)')
    parser.add_argument('--hostname', default=socket.gethostname(),
                        help='node name to match (default: %(default)s)')
    parser.add_argument('--physnet', action='append', default=[],
                        metavar='IFACE=PHYSNET', type=arguments.physnet,
                        help='physical network of a PF (repeatable)')
    parser.add_argument('--cpu-allocation-ratio', type=arguments.ratio,
                        default=4.0, metavar='RATIO',
                        help='VCPU allocation ratio (default: %(default)s)')
    parser.add_argument('--ram-allocation-ratio', type=arguments.ratio,
                        default=1.0, metavar='RATIO',
                        help='MEMORY_MB allocation ratio (default: '
                             '%(default)s)')
    parser.add_argument('--reserved-host-memory-mb', type=int, default=0,
                        metavar='MB', help='memory reserved for the host, '
                        'on the first cell (default: %(default)s)')
    parser.add_argument('--gpus-under-numa', action='store_true',
                        help='put each pGPU under its NUMA cell; by default '
                             'under the root, as nova\'s libvirt driver '
                             'does')
    parser.set_defaults(run=run)


def run(ctx: Context) -> Code:
    if ctx.args.from_nova or ctx.args.config_file:
        return _from_nova(ctx)
    args = ctx.args
    document = sysfs.discover(
        args.sysfs, hostname=args.hostname, physnets=dict(args.physnet),
        cpu_allocation_ratio=args.cpu_allocation_ratio,
        ram_allocation_ratio=args.ram_allocation_ratio,
        reserved_host_memory_mb=args.reserved_host_memory_mb,
        gpus_under_numa=args.gpus_under_numa)
    if args.json:
        ctx.report(Code.SUCCESS, [], **document, summary=None)
        return Code.SUCCESS
    text = sysfs.render(document)
    if args.output:
        _write(args.output, text)
        ctx.err.write(f'Layout of {args.hostname} written to '
                      f'{args.output}\n')
    else:
        ctx.out.write(text)
    return Code.SUCCESS


def _from_nova(ctx: Context) -> Code:
    """Every compute node's rule, from nova's facts."""
    ctx.read_nova()
    if access.reaches_placement(ctx.args.config_file, ctx.args.placement_db):
        with ctx.client() as client:
            ctx.layouts(client)
    else:
        ctx.layouts()
        ctx.warn('Not checked against Placement: give --placement-db, or a '
                 'config file with [placement] credentials.')
    built = ctx.built
    assert built is not None
    if ctx.args.json:
        ctx.report(_code(built), [], **built.document,
                   summary=built.summary.document())
        return _code(built)
    text = render_facts(built)
    if ctx.args.output:
        _write(ctx.args.output, text)
        ctx.err.write(f'Layouts of {built.summary.nodes} nodes written to '
                      f'{ctx.args.output}\n')
    else:
        ctx.out.write(text)
    return _code(built)


def _code(built: novadb.Built) -> Code:
    """1 when a node is refused, or Placement has nodes in no cell read:
    their rules are missing from the file."""
    summary = built.summary
    return Code.WARNING if summary.refused or summary.unread \
        else Code.SUCCESS


def render_facts(built: novadb.Built) -> str:
    """The layouts document as YAML, after a header saying where it came
    from and what is inconsistent."""
    header = [f'# Layouts and hints from {built.layouts.source},',
              '# written by nested-pivot discover.',
              *(f'# {line}' for line in built.summary.lines())]
    return '\n'.join(header) + '\n' + layoutfile.dump(built.document)


def _write(path: str, text: str) -> None:
    try:
        Path(path).write_text(text)
    except OSError as err:
        raise exception.DiscoveryError(
            path=path, problem=f'cannot write the layout: '
                               f'{err.strerror or err}') from None
