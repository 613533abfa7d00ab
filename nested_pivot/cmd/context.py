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

"""What every command gets: its arguments, Placement, layouts, journal and
its output streams."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Iterator
import contextlib
import dataclasses
import json
from pathlib import Path
import shlex
import sys
from typing import Any
from typing import TextIO

from nested_pivot import dburl
from nested_pivot import layoutfile
from nested_pivot import novadb
from nested_pivot.cmd import access
from nested_pivot.cmd import document
from nested_pivot.cmd import render
from nested_pivot.cmd.selection import Selection
from nested_pivot.journal import Journal
from nested_pivot.layout import Layout
from nested_pivot.placement import PlacementClient
from nested_pivot.service import reads
from nested_pivot.service import views


@dataclasses.dataclass
class Context:
    args: argparse.Namespace
    out: TextIO
    err: TextIO
    built: novadb.Built | None = None
    """With --from-nova, what :meth:`layouts` built last."""
    rules: layoutfile.Layouts | None = None
    """The rules :meth:`node_rule` looked the node up in."""
    file_layouts: layoutfile.Layouts | None = None
    facts: novadb.Facts | None = None
    warnings: list[str] = dataclasses.field(default_factory=list)
    """What :meth:`warn` said: the JSON document carries it too."""
    selection: Selection | None = None
    """The nodes :func:`.selection.select` chose, once it has."""

    def __post_init__(self) -> None:
        for stream in (self.out, self.err):
            # A name no encoding can write (a lone surrogate from argv) is
            # shown escaped, not a crash.
            with contextlib.suppress(AttributeError, ValueError):
                stream.reconfigure(  # type: ignore[attr-defined]
                    errors='backslashreplace')

    def read_layout_file(self) -> None:
        """Read --layouts, or with --from-nova nova's facts, now: so that
        a bad file or database fails before Placement is reached."""
        if self.args.from_nova:
            self.read_nova()
        else:
            self.layouts()

    def read_nova(self) -> novadb.Facts:
        """nova's facts, read once."""
        if self.facts is None:
            self.facts = novadb.read(self.nova_source())
        return self.facts

    @contextlib.contextmanager
    def client(self) -> Iterator[PlacementClient]:
        with access.client(self.args.config_file, self.args.placement_db,
                           self.args.placement_db_wait, self.err) as client:
            yield client

    def layouts(self, client: PlacementClient | None = None,
                nodes: Collection[str] | None = None) -> layoutfile.Layouts:
        """The rules: from --layouts, or with --from-nova from nova's
        facts (of ``nodes`` only, when given), checked against what
        ``client`` reads from Placement; their summary goes to stderr."""
        if not self.args.from_nova:
            if self.file_layouts is None:
                self.file_layouts = layoutfile.load(self._layout_path())
                for warning in self.file_layouts.warnings:
                    self.err.write(f'nested-pivot: warning: {warning}\n')
            return self.file_layouts
        built = views.layouts(self.nova_source(), client, nodes,
                              self.read_nova())
        if not self.args.json or self.args.command != 'discover':
            self.err.write('\n'.join(built.summary.lines()) + '\n')
        self.built = built
        return built.layouts

    def _layout_path(self) -> str:
        """--layouts, refused up front when it does not exist, saying
        where the layouts can come from."""
        path = self.args.layouts
        if not Path(path).exists():
            raise layoutfile.LayoutFileError(
                file=path, where='path',
                reason='no such file or directory. Give the layout file '
                       'with --layouts PATH (or $NESTED_PIVOT_LAYOUTS), or '
                       "build the layouts from nova's database with "
                       '--from-nova')
        return str(path)

    def nova_source(self) -> novadb.Source:
        """Where nova's facts are read.  A command that selects nodes
        reads every cell and narrows its nodes to those of ``--cell``
        (:mod:`.selection`); the others read only the cells given."""
        cells = () if getattr(self.args, 'selects', False) \
            else tuple(self.args.cell)
        return novadb.Source(self.args.nova_db, tuple(self.args.config_file),
                             self.args.all_cells, cells)

    def unread(self) -> dict[str, str]:
        """With --from-nova, the nodes Placement has that the cells read
        do not, and why (which option reads them)."""
        return dict(self.built.summary.unread) if self.built else {}

    def roles(self, node: str) -> dict[str, str]:
        """With --from-nova, what nova's records say the node's consumers
        are (migrations, sides of moves in progress)."""
        return dict(self.built.summary.roles.get(node, {})) \
            if self.built else {}

    def healed(self, node: str) -> dict[str, str]:
        """With --from-nova, why each healed consumer of the node is."""
        return {h.consumer: h.why for h in self.built.summary.healed
                if h.node == node} if self.built else {}

    def unread_lines(self) -> list[str]:
        return [line.strip() for line in self.built.summary.unread_lines()] \
            if self.built else []

    def node_rule(self, client: PlacementClient, node: str
                  ) -> tuple[str, str, layoutfile.Rule | None]:
        """The node's uuid and name (``node`` may be a uuid), and the rule
        that matches it, if any (:attr:`rules` says why not)."""
        uuid, name = reads.find_node(client, node)
        self.rules = self.layouts(client, [name])
        return uuid, name, self.rules.rule_for(name)

    def flat_layout(self, node: str,
                    client: PlacementClient | None = None) -> Layout:
        """The flat form of the node's layout, so that a rollback removes
        the children its rule names; without a layouts file, the flat
        layout, which removes the children nested_pivot created (those it
        renamed too, from the journal)."""
        return self.flat_layouts([node], client)(node)

    def flat_layouts(self, nodes: Collection[str] | None,
                     client: PlacementClient | None = None
                     ) -> Callable[[str], Layout]:
        """:meth:`flat_layout` of each of ``nodes`` (``None``: every
        node), from one read of the rules."""
        if not self.args.from_nova and not Path(self.args.layouts).exists():
            return lambda node: self._renamed_flat(client, node)
        rules = self.layouts(client if self.args.from_nova else None, nodes)

        def flat(node: str) -> Layout:
            rule = next((r for r in rules.rules if r.matches(node)), None)
            return rule.layout.flat() if rule else Layout()

        return flat

    def _renamed_flat(self, client: PlacementClient | None,
                      node: str) -> Layout:
        """The flat layout, adopting the children the journal says
        nested_pivot renamed (no layouts file to name them)."""
        if client is None or getattr(self.args, 'no_journal', False):
            return Layout()
        uuid, name = reads.find_node(client, node)
        prefix = f'{name}_'
        return Layout(adopted=frozenset(
            n[len(prefix):] for n in self.journal().renamed(uuid)
            if n.startswith(prefix)))

    def where(self, client: PlacementClient | None = None) -> str:
        """Which Placement (and nova database) the command works on, for
        a confirmation prompt; passwords masked."""
        if self.args.placement_db:
            place = (f'the Placement database '
                     f'{access.mask(self.args.placement_db)}')
        else:
            endpoint = 'placement'
            with contextlib.suppress(Exception):
                endpoint = str(client.adapter.get_endpoint()) \
                    if client is not None else endpoint
            place = f'Placement at {access.mask(endpoint)}'
        if self.built is not None:
            return f'{place}, with the layouts of {self.built.layouts.source}'
        if self.file_layouts is not None:
            return f'{place}, with the layouts of {self.file_layouts.source}'
        return place

    def command(self, *words: str) -> str:
        """A command line to run next, with this one's access options
        (a database password masked)."""
        args = self.args
        options = [f'--config-file {f}' for f in args.config_file]
        if args.placement_db:
            options.append(f'--placement-db {access.mask(args.placement_db)}')
        if args.nova_db:
            options.append(f'--nova-db {access.mask(args.nova_db)}')
        elif args.all_cells:
            options.append('--all-cells')
        elif args.from_nova and not args.cell:
            options.append('--from-nova')
        options += [f'--cell {shlex.quote(c)}' for c in args.cell]
        if not args.from_nova:
            options.append(f'--layouts {args.layouts}')
        options.append(f'--state-dir {args.state_dir}')
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
        """``document`` as JSON, any password in it masked."""
        self.out.write(dburl.mask(json.dumps(
            document, indent=2, sort_keys=True, default=str)) + '\n')

    def report(self, exit_code: int, nodes: list[Any], /,
               **fields: Any) -> None:
        """The command's JSON document (:mod:`.document`)."""
        self.emit(document.envelope(self, exit_code, nodes, **fields))

    def fail(self, message: str) -> None:
        self.err.write(f'nested-pivot: error: {message}\n')

    def warn(self, message: str) -> None:
        """A warning on stderr, kept for the JSON document."""
        self.warnings.append(message)
        self.err.write(f'nested-pivot: warning: {message}\n')

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
