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

"""Which nodes a command works on: ``NODE...`` (names, uuids, glob
patterns of names), or ``--all``, narrowed by ``--cell`` (nova's cells)
and ``--aggregate`` (Placement's aggregates).

One module for every command that takes nodes: :func:`add_arguments` adds
the options to a command's parser, :func:`normalize` checks them once
parsed, and :func:`select` resolves them against Placement (and nova's
facts, for ``--cell``), before anything is written.  A name, uuid,
pattern, cell or aggregate that selects no compute node is a usage error
(:class:`~nested_pivot.exception.NodeSelectionError`, exit 64) that names
it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from collections.abc import Iterable
import dataclasses
import fnmatch
from typing import NoReturn
from typing import TYPE_CHECKING
import uuid as uuidlib

from nested_pivot import exception
from nested_pivot.cmd.arguments import node_name
from nested_pivot.placement import PlacementClient
from nested_pivot.service import reads
from nested_pivot.text import plural

if TYPE_CHECKING:
    from nested_pivot.cmd.context import Context

GLOB = frozenset('*?[')
"""A NODE with one of these, that is not a node's exact name, is a
pattern of node names (:func:`fnmatch.fnmatchcase`)."""

SHOWN = 8
"""Node names a confirmation prompt lists before "and N more"."""

Root = tuple[str, str]
"""(uuid, name) of a compute node's root provider."""


@dataclasses.dataclass(frozen=True)
class Selection:
    """The nodes selected, each once: named ones in the order given,
    then those a pattern, --all or a filter found, in name order.

    ``named`` are the names given exactly (by name or uuid): commands
    report on them even when no layout rule matches them, where a node
    found by a pattern, --all or a filter without a rule is left out.
    ``everything`` is --all (or no NODE) without a filter: every compute
    node, so that nova's facts are read and checked whole.
    """

    roots: tuple[Root, ...]
    named: frozenset[str] = frozenset()
    everything: bool = False

    @property
    def names(self) -> list[str]:
        return [name for _, name in self.roots]

    @property
    def uuids(self) -> dict[str, str]:
        """name -> uuid."""
        return {name: uuid for uuid, name in self.roots}

    def is_named(self, name: str) -> bool:
        return name in self.named

    def scope(self) -> list[str] | None:
        """The names to read nova's facts of: ``None`` for every node."""
        return None if self.everything else self.names


def add_arguments(parser: argparse.ArgumentParser, *, verb: str,
                  every: str, default_all: bool = False) -> None:
    """``NODE...``, ``--all`` and ``--aggregate``; ``--cell``, an option
    of nova's facts that every command has, narrows the selection too.

    ``verb`` says what the command does to the nodes (for its usage
    errors), ``every`` what ``--all`` takes (e.g. "every node a layout
    rule matches"); with ``default_all`` no NODE means --all.
    """
    parser.add_argument(
        'nodes', metavar='NODE', nargs='*', type=node_name,
        help='a compute node: its name or uuid, or a glob pattern of node '
             'names (quote it: "cmp-*") (repeatable)')
    group = parser.add_argument_group('selecting nodes')
    group.add_argument(
        '--all', action='store_true',
        help=every + (' (the default)' if default_all else ''))
    group.add_argument(
        '--aggregate', action='append', default=[], metavar='AGGREGATE',
        help="only the nodes in Placement's aggregate AGGREGATE: its uuid, "
             "or the name of nova's host aggregate, found through the "
             '[api_database] connection of --config-file (repeatable)')
    parser.set_defaults(usage=parser.error, selects=True,
                        default_all=default_all, verb=verb)


def normalize(args: argparse.Namespace) -> None:
    """Check the selection options of a command that has them, and let
    --cell imply --all-cells; a contradiction is a usage error."""
    if not getattr(args, 'selects', False):
        return
    usage: Callable[[str], NoReturn] = args.usage
    if args.nodes and args.all:
        usage(f'name the nodes to {args.verb}, or give --all, not both '
              '(--cell and --aggregate narrow either)')
    if not (args.nodes or args.all or args.cell or args.aggregate
            or args.default_all):
        usage(f'name the nodes to {args.verb}, or give --all (names, '
              'uuids or quoted "glob*" patterns; --cell and --aggregate '
              'narrow them)')
    if args.cell and args.nova_db:
        usage('--cell picks among the cells that --all-cells reads through '
              '[api_database]; --nova-db names one cell database: drop one')
    if args.cell:
        args.all_cells = True


def select(ctx: Context, client: PlacementClient) -> Selection:
    """The nodes the command's arguments name, resolved against
    Placement (``ctx`` is the command's
    :class:`~nested_pivot.cmd.context.Context`).

    :raises NodeNotFound: a name, uuid or pattern that names no compute
        node (all of them, in one message); nothing was written.
    :raises NodeSelectionError: a cell or aggregate that selects no
        compute node; nothing was written.
    """
    args = ctx.args
    given = list(dict.fromkeys(args.nodes))
    filtered = bool(args.cell or args.aggregate)
    listing = (None if given and not filtered and not _any_pattern(given)
               else reads.list_roots(client))
    if given:
        chosen, named = _given(client, given, listing)
    else:
        chosen, named = dict(listing or ()), set()
    if args.cell:
        _narrow(ctx, chosen, named, _cell_nodes(ctx, args.cell),
                'cell', args.cell)
    if args.aggregate:
        _narrow(ctx, chosen, named,
                _aggregate_nodes(ctx, client, args.aggregate, listing or []),
                'aggregate', args.aggregate)
    found = Selection(tuple(chosen.items()), frozenset(named),
                      everything=not given and not filtered)
    ctx.selection = found
    return found


def _any_pattern(values: Iterable[str]) -> bool:
    return any(GLOB & set(v) for v in values)


def _given(client: PlacementClient, given: list[str],
           listing: list[Root] | None) -> tuple[dict[str, str], set[str]]:
    """Named nodes in the order given, then each pattern's matches in
    name order: uuid -> name, and the names given exactly."""
    chosen: dict[str, str] = {}
    named: set[str] = set()
    unknown: list[str] = []
    for value in given:
        exact = _exact(listing, value)
        if exact is None and listing is not None and GLOB & set(value):
            matches = [r for r in listing
                       if fnmatch.fnmatchcase(r[1], value)]
            if not matches:
                unknown.append(f'the pattern {value!r} matches no compute '
                               'node.')
            chosen.update((u, n) for u, n in matches if u not in chosen)
            continue
        try:
            uuid, name = exact or reads.find_node(client, value)
        except exception.NodeNotFound as err:
            unknown.append(str(err))
            continue
        chosen.setdefault(uuid, name)
        named.add(name)
    if unknown:
        raise exception.NodeNotFound(
            method='GET', url='/resource_providers', status=404,
            node=', '.join(given),
            message=' '.join(unknown) + ' Nothing was changed.')
    return chosen, named


def _exact(listing: list[Root] | None, value: str) -> Root | None:
    """The root named, or with uuid, ``value`` in ``listing``."""
    if listing is None:
        return None
    return next((r for r in listing if value in r), None)


def _narrow(ctx: Context, chosen: dict[str, str], named: set[str],
            keep: set[str], what: str, values: list[str]) -> None:
    """Keep the nodes (by name) in ``keep``; a named node left out is
    said; nothing left is a usage error."""
    label = f'{what} {", ".join(values)}'
    for uuid, name in list(chosen.items()):
        if name not in keep:
            del chosen[uuid]
            if name in named:
                named.discard(name)
                ctx.warn(f'{name}: not in {label}; left out')
    if not chosen:
        raise exception.NodeSelectionError(
            reason=f'no compute node selected is in {label}. Nothing was '
                   'changed.')


def _cell_nodes(ctx: Context, cells: list[str]) -> set[str]:
    """The names of the nodes in nova's ``cells`` (names or uuids)."""
    facts = ctx.read_nova()
    mappings = facts.cell_mappings
    picked: set[str] = set()
    for value in cells:
        found = {u for u, name in mappings.items() if value in (u, name)}
        if not found:
            known = ', '.join(f'{name or "(no name)"} ({u})'
                              for u, name in sorted(mappings.items(),
                                                    key=lambda c: c[1]))
            raise exception.NodeSelectionError(
                reason=f"nova has no cell {value!r}; its cells: "
                       f'{known or "none"}. Nothing was changed.')
        picked |= found
    return {n.name for n in facts.nodes.values() if n.cell_uuid in picked}


def _aggregate_nodes(ctx: Context, client: PlacementClient,
                     aggregates: list[str], listing: list[Root]
                     ) -> set[str]:
    """The names of the compute nodes in Placement's ``aggregates``
    (uuids, or names of nova's host aggregates)."""
    roots = dict(listing)
    names: dict[str, str] | None = None
    picked: set[str] = set()
    for value in aggregates:
        uuid = value if _is_uuid(value) else None
        if uuid is None:
            if names is None:
                from nested_pivot.novadb import aggregates as nova_aggregates

                names = nova_aggregates.by_name(ctx.args.config_file)
            uuid = names.get(value)
            if uuid is None:
                raise exception.NodeSelectionError(
                    reason=f"nova has no host aggregate named {value!r} "
                           f"(it has: {', '.join(sorted(names)) or 'none'})."
                           ' Nothing was changed.')
        found = {roots[member] for member in reads.in_aggregate(client, uuid)
                 if member in roots}
        if not found:
            raise exception.NodeSelectionError(
                reason=f'Placement has no compute node in aggregate {value}'
                       + (f' ({uuid})' if uuid != value else '')
                       + '. Nothing was changed.')
        picked |= found
    return picked


def _is_uuid(value: str) -> bool:
    try:
        return str(uuidlib.UUID(value)) == value.lower()
    except ValueError:
        return False


def listed(names: list[str]) -> str:
    """Node names for a prompt: the first few, then how many more."""
    if len(names) <= SHOWN:
        return ', '.join(names)
    return f'{", ".join(names[:SHOWN])} and {len(names) - SHOWN} more'


def question(verb: str, names: list[str], where: str,
             after: str = '') -> str:
    """"Pivot 3 nodes (a, b, c) in the Placement database ...?"."""
    count = plural(len(names), 'node')
    shown = f' ({listed(names)})' if names else ''
    return f'{verb} {count}{shown}{after} in {where}?'
