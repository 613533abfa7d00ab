"""What every command gets: its arguments, Placement, layouts, journal."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
import contextlib
import dataclasses
import json
from pathlib import Path
import sys
from typing import Any
from typing import TextIO

from nested_pivot import exception
from nested_pivot import layoutfile
from nested_pivot.cmd import access
from nested_pivot.journal import Journal
from nested_pivot.layout import Layout
from nested_pivot.placement import PlacementClient
from nested_pivot.placement import snapshot


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

    def rule(self, layouts: layoutfile.Layouts, node: str
             ) -> layoutfile.Rule:
        found = layouts.rule_for(node)
        if found is None:
            raise exception.InvalidLayout(
                reason=f'no rule in {self.args.layouts} matches node '
                       f'{node}')
        return found

    def flat_layout(self, node: str) -> Layout:
        """The flat form of the node's layout, so that a rollback removes
        the children its rule names; without a layouts file, the flat
        layout, which removes the children nested_pivot created."""
        if not Path(self.args.layouts).exists():
            return Layout()
        rule = self.layouts().rule_for(node)
        return rule.layout.flat() if rule else Layout()

    def node_rule(self, client: PlacementClient, node: str
                  ) -> tuple[str, layoutfile.Rule]:
        """The node's name (``node`` may be a uuid) and its rule."""
        _, name = snapshot.find_node(client, node)
        return name, self.rule(self.layouts(), name)

    @staticmethod
    def hints(rule: layoutfile.Rule, node: str) -> dict[str, Any] | None:
        found = rule.hints.get(node)
        return dict(found) if found else None

    def journal(self) -> Journal:
        return Journal(self.args.state_dir)

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
            self.fail(f'{question} Refusing without --yes (no terminal).')
            return False
        self.err.write(f'{question} [y/N] ')
        self.err.flush()
        return sys.stdin.readline().strip().lower() in ('y', 'yes')

