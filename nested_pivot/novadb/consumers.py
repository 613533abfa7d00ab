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

"""What nova says of the consumers that hold allocations, with nova's own
objects: a compute node's live instances and its moves in progress, and,
for any uuid, the instance (deleted ones too), migration or build request
nova has of it.

``nested-pivot audit`` and the check after a pivot read these; they hold
no nova object, so that judging them needs no nova.  nova's own queries
say what "live" and "in progress" mean (``InstanceList.get_by_host_and_node``
and ``MigrationList.get_in_progress_by_host_and_node``): no list of states
is kept here.
"""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Iterator
import contextlib
import dataclasses
from typing import Any

from nested_pivot.novadb import reader
from nested_pivot.novadb.reader import Source


@dataclasses.dataclass(frozen=True)
class NodeConsumers:
    """A compute node as nova's cell database has it: its host, its cell,
    its live instances, and its moves in progress (migration uuid ->
    instance uuid), outgoing and incoming alike."""

    name: str
    host: str
    cell: str
    instances: frozenset[str]
    moves: dict[str, str]

    @property
    def protected(self) -> frozenset[str]:
        """The consumers that may hold allocations on the node: its live
        instances, and each move's migration and instance."""
        return (self.instances | frozenset(self.moves)
                | frozenset(self.moves.values()))


@dataclasses.dataclass(frozen=True)
class Instance:
    """One instance row, deleted or not."""

    uuid: str
    deleted: bool
    host: str | None
    node: str | None
    vm_state: str | None
    task_state: str | None
    hidden: bool = False
    cell: str = ''


@dataclasses.dataclass(frozen=True)
class Migration:
    """One migration row."""

    uuid: str
    instance: str
    status: str
    kind: str
    source_node: str | None
    dest_node: str | None
    cell: str = ''


@dataclasses.dataclass(frozen=True)
class Known:
    """What nova has of one consumer uuid: the instance of that uuid or
    of its migration, the migration, and whether nova's API database
    holds a build request or an instance mapping of it (an instance being
    booted, not yet in its cell).  ``api`` says whether the API database
    was read at all."""

    uuid: str
    instance: Instance | None = None
    migration: Migration | None = None
    building: bool = False
    api: bool = False

    @property
    def unknown(self) -> bool:
        return (self.instance is None and self.migration is None
                and not self.building)


class NovaConsumers:
    """nova's view of consumers, read from its cell databases.

    From :class:`~nested_pivot.novadb.Source` (the CLI: one cell, or
    every cell through the API database), or :meth:`in_process` (inside
    nova-compute, on its own database).
    """

    def __init__(self, objects: Any, ctx: Any,
                 cells: list[tuple[str, Any]], *, api: bool,
                 target: Any = None) -> None:
        self._objects = objects
        self._ctx = ctx
        self._cells = cells
        self._target = target
        self.api = api
        """The API database is read: build requests and instance
        mappings are seen."""

    @classmethod
    def from_source(cls, source: Source) -> NovaConsumers:
        """Through nova's configuration, as ``--from-nova`` reads facts.

        :raises NovaFactsError: nova is not installed, or the
            configuration or a database cannot be read.
        """
        nova = reader._Nova.load()
        conf = nova.configure(source.config_files)
        ctx = nova.context.get_admin_context()
        chosen = reader._cells(nova, conf, source, ctx)
        # The API database answers for the cells that were not read only
        # when every cell was: else their instances would look unknown.
        return cls(nova.objects, ctx,
                   [(c.name or c.uuid, c) for c in chosen.cells],
                   api=bool(conf.api_database.connection
                            and not source.connection and not chosen.more),
                   target=nova.context.target_cell)

    @classmethod
    def in_process(cls, context: Any = None) -> NovaConsumers:
        """Inside a nova service: its own database, through ``context``
        (an admin context by default)."""
        from nova import context as nova_context
        from nova import objects

        ctx = context if context is not None \
            else nova_context.get_admin_context()
        return cls(objects, ctx, [('', None)], api=False)

    @contextlib.contextmanager
    def _in(self, cell: Any) -> Iterator[Any]:
        if cell is None or self._target is None:
            yield self._ctx
            return
        with reader._reading(cell), self._target(self._ctx, cell) as cctx:
            yield cctx

    def node(self, name: str) -> NodeConsumers | None:
        """The compute node of hypervisor_hostname ``name``, or None when
        no cell has it."""
        for label, cell in self._cells:
            with self._in(cell) as ctx:
                compute = self._compute(ctx, name)
                if compute is None:
                    continue
                host = compute.host
                instances = self._objects.InstanceList.get_by_host_and_node(
                    ctx, host, name, expected_attrs=[])
                moves = self._objects.MigrationList \
                    .get_in_progress_by_host_and_node(ctx, host, name)
                return NodeConsumers(
                    name=name, host=host, cell=label,
                    instances=frozenset(i.uuid for i in instances),
                    moves={m.uuid: m.instance_uuid for m in moves})
        return None

    def _compute(self, ctx: Any, name: str) -> Any:
        from nova import exception as nova_exception

        try:
            return self._objects.ComputeNode.get_by_nodename(ctx, name)
        except nova_exception.NotFound:
            return None

    def look_up(self, uuids: Collection[str]) -> dict[str, Known]:
        """What nova has of each of ``uuids``: every cell's instances
        (deleted ones too) and migrations, then the API database's build
        requests and instance mappings for the uuids no cell has.  One
        query per uuid and cell: ask about the few a node does not
        account for (:meth:`node`), not about all its consumers."""
        wanted = sorted(set(uuids))
        if not wanted:
            return {}
        instances: dict[str, Instance] = {}
        migrations: dict[str, Migration] = {}
        for label, cell in self._cells:
            with self._in(cell) as ctx:
                found = self._objects.MigrationList.get_by_filters(
                    ctx, {'uuid': wanted})
                migrations.update((m.uuid, _migration(m, label))
                                  for m in found)
                owners = {m.instance for m in migrations.values()}
                for uuid in sorted((set(wanted) | owners) - set(instances)):
                    row = self._instance(ctx, uuid)
                    if row is not None:
                        instances[uuid] = _instance(row, label)
        known = {}
        for uuid in wanted:
            migration = migrations.get(uuid)
            owner = migration.instance if migration else uuid
            known[uuid] = Known(uuid, instances.get(owner), migration,
                                api=self.api)
        self._builds(known)
        return known

    def _instance(self, ctx: Any, uuid: str) -> Any:
        """The instance row of ``uuid``, deleted or not, or None."""
        from nova import exception as nova_exception

        try:
            return self._objects.Instance.get_by_uuid(
                ctx.elevated(read_deleted='yes'), uuid, expected_attrs=[])
        except nova_exception.InstanceNotFound:
            return None

    def _builds(self, known: dict[str, Known]) -> None:
        """Mark the uuids no cell has that nova's API database holds a
        build request or an instance mapping of."""
        if not self.api:
            return
        from nova import exception as nova_exception

        objects = self._objects
        for uuid, entry in known.items():
            if not entry.unknown:
                continue
            for kind in (objects.BuildRequest, objects.InstanceMapping):
                with reader._reading(None, 'the API database'):
                    try:
                        kind.get_by_instance_uuid(self._ctx, uuid)
                    except nova_exception.NotFound:
                        continue
                known[uuid] = dataclasses.replace(entry, building=True)
                break


def _instance(row: Any, cell: str) -> Instance:
    return Instance(uuid=row.uuid, deleted=bool(row.deleted),
                    host=row.host, node=row.node, vm_state=row.vm_state,
                    task_state=row.task_state,
                    hidden=bool(reader._field(row, 'hidden')), cell=cell)


def _migration(row: Any, cell: str) -> Migration:
    return Migration(uuid=row.uuid, instance=row.instance_uuid,
                     status=row.status, kind=row.migration_type or '',
                     source_node=row.source_node, dest_node=row.dest_node,
                     cell=cell)
