"""``nested-pivot discover``: write this host's layout from sysfs."""

from __future__ import annotations

import argparse
from pathlib import Path
import socket
import sys
from typing import Any

from nested_pivot import discover as sysfs
from nested_pivot.cmd.codes import Code
from nested_pivot.cmd.context import Context


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        'discover', parents=[common],
        help="write this host's layout (NUMA cells, SR-IOV PFs, mdev GPUs) "
             'from sysfs')
    parser.add_argument('--output', metavar='FILE',
                        help='write here instead of stdout')
    parser.add_argument('--sysfs', default='/sys', metavar='DIR',
                        help='sysfs root (default: %(default)s)')
    parser.add_argument('--hostname', default=socket.gethostname(),
                        help='node name to match (default: %(default)s)')
    parser.add_argument('--physnet', action='append', default=[],
                        metavar='IFACE=PHYSNET',
                        help='physical network of a PF (repeatable)')
    parser.add_argument('--cpu-allocation-ratio', type=float, default=4.0)
    parser.add_argument('--ram-allocation-ratio', type=float, default=1.0)
    parser.add_argument('--reserved-host-memory-mb', type=int, default=0)
    parser.set_defaults(run=run)


def run(ctx: Context) -> Code:
    args = ctx.args
    physnets = dict(p.split('=', 1) for p in args.physnet if '=' in p)
    document = sysfs.discover(
        args.sysfs, hostname=args.hostname, physnets=physnets,
        cpu_allocation_ratio=args.cpu_allocation_ratio,
        ram_allocation_ratio=args.ram_allocation_ratio,
        reserved_host_memory_mb=args.reserved_host_memory_mb)
    if args.json:
        ctx.emit(document)
        return Code.SUCCESS
    text = sysfs.render(document)
    if args.output:
        Path(args.output).write_text(text)
        print(f'Layout of {args.hostname} written to {args.output}',
              file=sys.stderr)
    else:
        ctx.out.write(text)
    return Code.SUCCESS
