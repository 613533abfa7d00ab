"""What every command gets: its arguments, Placement, layouts, journal and
its output streams."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
import contextlib
import dataclasses
import json
from pathlib import Path
import shlex
import sys
from typing import Any
from typing import TextIO

from nested_pivot import layoutfile
from nested_pivot.cmd import access
from nested_pivot.cmd import render
from nested_pivot.journal import Journal
from nested_pivot.layout import Layout
from nested_pivot.placement import PlacementClient
from nested_pivot.placement import read


@dataclasses.dataclass
class Context:
    args: argparse.Namespace
    out: TextIO
    err: TextIO

    @contextlib.contextmanager
    def client(self) -> Iterator[PlacementClient]:
        with access.client(self.args.config_file,
                           self.args.placement_db) as client:
            yield client

    def layouts(self) -> layoutfile.Layouts:
        return layoutfile.load(self.args.layouts)

    def node_rule(self, client: PlacementClient, node: str
                  ) -> tuple[str, str, layoutfile.Rule | None]:
        """The node's uuid and name (``node`` may be a uuid), and the rule
        that matches it, if any."""
        uuid, name = read.find_node(client, node)
        return uuid, name, self.layouts().rule_for(name)

    def flat_layout(self, node: str) -> Layout:
        """The flat form of the node's layout, so that a rollback removes
        the children its rule names; without a layouts file, the flat
        layout, which removes the children nested_pivot created."""
        if not Path(self.args.layouts).exists():
            return Layout()
        rule = self.layouts().rule_for(node)
        return rule.layout.flat() if rule else Layout()

    def command(self, *words: str) -> str:
        """A command line to run next, with this one's access options
        (a database password masked)."""
        args = self.args
        options = [f'--config-file {f}' for f in args.config_file]
        if args.placement_db:
            options.append(f'--placement-db {access.mask(args.placement_db)}')
        options += [f'--layouts {args.layouts}',
                    f'--state-dir {args.state_dir}']
        return shlex.join(['nested-pivot', *words]) + ' ' + ' '.join(options)

    def journal(self) -> Journal:
        return Journal(self.args.state_dir)

    @property
    def branches(self) -> tuple[str, str, str]:
        return render.glyphs(self.out)

    def print(self, *lines: str) -> None:
        for line in lines:
            self.out.write(line + '\n')

    def emit(self, document: Any) -> None:
        self.out.write(json.dumps(document, indent=2, sort_keys=True,
                                  default=str) + '\n')

    def fail(self, message: str) -> None:
        self.err.write(f'nested-pivot: error: {message}\n')

    def confirm(self, question: str) -> bool:
        """Ask on a terminal; without one, refuse and say --yes."""
        if self.args.yes:
            return True
        if not sys.stdin.isatty():
            self.fail(f'{question} Not confirmed: there is no terminal to '
                      'ask on; give --yes. Nothing was changed.')
            return False
        self.err.write(f'{question} [y/N] ')
        self.err.flush()
        if sys.stdin.readline().strip().lower() in ('y', 'yes'):
            return True
        self.fail('not confirmed: nothing was changed.')
        return False
