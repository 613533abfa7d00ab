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

"""Placement's database itself, offline: bulk reads and the reshape.

Offline (``--placement-db``) every service is stopped and nested_pivot has
Placement's database to itself.  A node is read here in a few queries (a
batch of nodes in the same few), through Placement's own database layer:
``placement.db_api``'s reader in a read-only transaction, the tables of
``placement.db.sqlalchemy.models`` and Placement's attribute caches for the
names of resource classes, traits and consumer types.  What it gives equals
what the API read gives (a functional test compares the two on SQLite,
PostgreSQL and MariaDB).

The reshape goes through Placement's own reshaper,
``placement.objects.reshaper.reshape``, the function behind ``POST
/reshaper``, with the objects its handler builds, looked up in one query
each instead of a few per consumer.  The body is checked with Placement's
own schema first.  Generations, usages and capacity are Placement's checks,
exactly as online; only the project, user and type of each consumer are
left as the database holds them, as ``POST /reshaper`` at 1.37 does.

Only the tables, columns and objects listed in
:mod:`nested_pivot.placement.contract` are used.
"""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
import contextlib
import dataclasses
import json
from typing import Any

from nested_pivot import engine
from nested_pivot import exception
from nested_pivot import microversion
from nested_pivot.engine import body
from nested_pivot.engine import model
from nested_pivot.placement import reshaper
from nested_pivot.placement.http import Response

BATCH = 200
"""Nodes read in one set of queries."""

SHARING_TRAIT = 'MISC_SHARES_VIA_AGGREGATE'

# The statement that makes a reader's transaction read-only, per dialect.
# PostgreSQL also reads from one snapshot (REPEATABLE READ); InnoDB's
# default isolation already is; SQLite reads one snapshot from BEGIN on.
READ_ONLY = {
    'postgresql': 'SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, '
                  'READ ONLY',
    'mysql': 'SET TRANSACTION READ ONLY',
    'sqlite': 'PRAGMA query_only = 1',
}
READ_WRITE = {'sqlite': 'PRAGMA query_only = 0'}


@dataclasses.dataclass(frozen=True)
class ProviderRow:
    """One provider, as Placement's API names its fields."""

    id: int
    uuid: str
    name: str
    generation: int
    root_provider_uuid: str
    parent_provider_uuid: str | None

    def as_dict(self) -> dict[str, Any]:
        return {'uuid': self.uuid, 'name': self.name,
                'generation': self.generation,
                'root_provider_uuid': self.root_provider_uuid,
                'parent_provider_uuid': self.parent_provider_uuid}


@dataclasses.dataclass(frozen=True)
class BulkNode:
    """A node read whole: its tree, every consumer's whole record, the
    sharing providers asked for, and each provider's aggregates."""

    root: str
    name: str
    snapshot: engine.Snapshot
    records: dict[str, engine.ConsumerRecord]
    sharing: dict[str, engine.Provider]
    aggregates: dict[str, frozenset[str]]


@dataclasses.dataclass
class _Rows:
    """The rows of one batch, by provider id."""

    providers: list[ProviderRow]
    inventory: dict[int, dict[str, dict[str, Any]]]
    traits: dict[int, set[str]]
    aggregates: dict[int, set[str]]
    records: dict[str, engine.ConsumerRecord]
    held: dict[int, set[str]]
    """The consumers holding something on each provider."""


class PlacementDatabase:
    """Placement's database through Placement's own database layer.

    ``conf`` holds Placement's options, its database already configured
    (``placement.db_api.configure``).  One per process, used from one
    thread at a time, as offline Placement itself is.
    """

    def __init__(self, conf: Any) -> None:
        from placement import context
        from placement import db_api
        from placement.db.sqlalchemy import models
        import sqlalchemy as sa

        self._sa = sa
        self._manager = db_api.placement_context_manager
        self._ctx = context.RequestContext(config=conf)
        self._conf = conf
        self._t = {name: getattr(models, name).__table__ for name in (
            'ResourceProvider', 'Inventory', 'Allocation', 'Consumer',
            'Project', 'User', 'ResourceProviderTrait', 'Trait',
            'ResourceProviderAggregate', 'PlacementAggregate')}
        self._upcoming: dict[str, int] = {}
        self._order: list[str] = []
        self._cache: dict[str, BulkNode] = {}
        self.queries = 0
        """Statements this object has run (reads and the reshape)."""

    # -- the read-only transaction -----------------------------------------
    @contextlib.contextmanager
    def reading(self) -> Iterator[Any]:
        """A session of Placement's reader, in a read-only transaction."""
        with self._manager.reader.using(self._ctx) as session:
            dialect = session.get_bind().dialect.name
            statement = READ_ONLY.get(dialect)
            if statement:
                session.execute(self._sa.text(statement))
            try:
                yield session
            finally:
                if dialect in READ_WRITE:
                    session.execute(self._sa.text(READ_WRITE[dialect]))

    def execute(self, session: Any, query: Any) -> list[Any]:
        """The rows of ``query`` in ``session``, counted."""
        self.queries += 1
        return list(session.execute(query))

    # -- providers -----------------------------------------------------------
    def provider_query(self) -> tuple[Any, Any, Any]:
        """A select of providers with their root's and parent's uuids,
        by id; the providers' table and the roots' alias, to filter on."""
        rp = self._t['ResourceProvider']
        root, parent = rp.alias('root'), rp.alias('parent')
        return self._sa.select(
            rp.c.id, rp.c.uuid, rp.c.name, rp.c.generation,
            root.c.uuid.label('root_uuid'),
            parent.c.uuid.label('parent_uuid'),
        ).select_from(
            rp.join(root, rp.c.root_provider_id == root.c.id).outerjoin(
                parent, rp.c.parent_provider_id == parent.c.id)
        ).order_by(rp.c.id), rp, root

    @staticmethod
    def _provider_row(row: Any) -> ProviderRow:
        return ProviderRow(row.id, row.uuid, row.name, row.generation,
                           row.root_uuid, row.parent_uuid)

    def provider(self, ref: str) -> ProviderRow | None:
        """The provider with uuid, or else with name, ``ref``."""
        query, rp, _ = self.provider_query()
        with self.reading() as session:
            for column in (rp.c.uuid, rp.c.name):
                found = self.execute(session, query.where(column == ref))
                if found:
                    return self._provider_row(found[0])
        return None

    def roots(self) -> list[tuple[str, str]]:
        """(uuid, name) of every root provider that is not a sharing one,
        by name, as :func:`nested_pivot.placement.read.list_roots`."""
        sa = self._sa
        rp, rpt, trait = (self._t['ResourceProvider'],
                          self._t['ResourceProviderTrait'], self._t['Trait'])
        sharing = sa.select(rpt.c.resource_provider_id).select_from(
            rpt.join(trait, rpt.c.trait_id == trait.c.id)).where(
            trait.c.name == SHARING_TRAIT)
        query = sa.select(rp.c.uuid, rp.c.name).where(
            rp.c.parent_provider_id.is_(None),
            rp.c.id.not_in(sharing))
        with self.reading() as session:
            found = self.execute(session, query)
        return sorted(((r.uuid, r.name) for r in found), key=lambda r: r[1])

    def generations(self, root: str) -> dict[str, int]:
        """The generation of each provider in ``root``'s tree, now."""
        query, _, root_rp = self.provider_query()
        with self.reading() as session:
            found = self.execute(session, query.where(root_rp.c.uuid == root))
        return {r.uuid: r.generation for r in found}

    def holders(self, provider: str, classes: Collection[str]
                ) -> dict[str, set[str]]:
        """The consumers holding any of ``classes`` on ``provider``, and
        which of them each holds."""
        sa = self._sa
        alloc, rp = self._t['Allocation'], self._t['ResourceProvider']
        query = sa.select(alloc.c.consumer_id, alloc.c.resource_class_id
                          ).select_from(alloc.join(
                              rp, alloc.c.resource_provider_id == rp.c.id)
                          ).where(rp.c.uuid == provider)
        found: dict[str, set[str]] = {}
        with self.reading() as session:
            for row in self.execute(session, query):
                rc = self._ctx.rc_cache.string_from_id(row.resource_class_id)
                if rc in classes:
                    found.setdefault(row.consumer_id, set()).add(rc)
        return found

    # -- nodes ------------------------------------------------------------
    def expect(self, roots: Iterable[str]) -> None:
        """The roots about to be read, in this order, by a command that
        writes nothing meanwhile: they are read :data:`BATCH` at a time.
        Each is served from its batch once; a second read of a node reads
        it again."""
        self._order = list(roots)
        self._upcoming = {root: i for i, root in enumerate(self._order)}
        self._cache.clear()

    def node(self, root: str, sharing: Sequence[str] = ()) -> BulkNode:
        """The node of root provider ``root``, whole.

        :raises NodeNotFound: no such root provider.
        """
        if not sharing:
            if root not in self._cache and root in self._upcoming:
                self._read_batch(root)
            if root in self._cache:
                return self._cache.pop(root)
        found = self.nodes([root], sharing)
        if root not in found:
            raise exception.NodeNotFound(method='GET',
                                         url='/resource_providers',
                                         status=None, node=root)
        return found[root]

    def _read_batch(self, root: str) -> None:
        """The batch of expected roots from ``root`` on, into the cache,
        in place of what is left there (nodes the command skipped)."""
        start = self._upcoming[root]
        batch = [r for r in self._order[start:start + BATCH]
                 if r in self._upcoming]
        for uuid in batch:
            del self._upcoming[uuid]
        self._cache = self.nodes(batch)

    def nodes(self, roots: Sequence[str], sharing: Sequence[str] = ()
              ) -> dict[str, BulkNode]:
        """The nodes of ``roots``, whole, in one set of queries; a root
        that is not there is left out."""
        with self.reading() as session:
            rows = self._batch(session, roots)
            shared = self._sharing(session, sharing)
        trees: dict[str, list[ProviderRow]] = {}
        for row in rows.providers:
            trees.setdefault(row.root_provider_uuid, []).append(row)
        return {root: self._node(root, trees[root], rows, shared)
                for root in roots if root in trees}

    def _batch(self, session: Any, roots: Sequence[str]) -> _Rows:
        query, _, root_rp = self.provider_query()
        providers = [self._provider_row(r) for r in self.execute(
            session, query.where(root_rp.c.uuid.in_(list(roots))))]
        ids = [p.id for p in providers]
        rows = _Rows(providers, self._inventories(session, ids),
                     self._traits(session, ids),
                     self._aggregates(session, ids), {}, {})
        self._allocations(session, ids, rows)
        return rows

    def _inventories(self, session: Any, ids: list[int]
                     ) -> dict[int, dict[str, dict[str, Any]]]:
        inv = self._t['Inventory']
        query = self._sa.select(
            inv.c.resource_provider_id, inv.c.resource_class_id,
            inv.c.total, inv.c.reserved, inv.c.min_unit, inv.c.max_unit,
            inv.c.step_size, inv.c.allocation_ratio).where(
            inv.c.resource_provider_id.in_(ids))
        found: dict[int, dict[str, dict[str, Any]]] = {i: {} for i in ids}
        for row in self.execute(session, query):
            rc = self._ctx.rc_cache.string_from_id(row.resource_class_id)
            found[row.resource_provider_id][rc] = {
                'total': row.total, 'reserved': row.reserved,
                'min_unit': row.min_unit, 'max_unit': row.max_unit,
                'step_size': row.step_size,
                'allocation_ratio': row.allocation_ratio}
        return found

    def _traits(self, session: Any, ids: list[int]) -> dict[int, set[str]]:
        rpt, trait = self._t['ResourceProviderTrait'], self._t['Trait']
        query = self._sa.select(rpt.c.resource_provider_id, trait.c.name
                                ).select_from(rpt.join(
                                    trait, rpt.c.trait_id == trait.c.id)
                                ).where(rpt.c.resource_provider_id.in_(ids))
        found: dict[int, set[str]] = {i: set() for i in ids}
        for row in self.execute(session, query):
            found[row.resource_provider_id].add(row.name)
        return found

    def _aggregates(self, session: Any, ids: list[int]
                    ) -> dict[int, set[str]]:
        rpa, agg = (self._t['ResourceProviderAggregate'],
                    self._t['PlacementAggregate'])
        query = self._sa.select(rpa.c.resource_provider_id, agg.c.uuid
                                ).select_from(rpa.join(
                                    agg, rpa.c.aggregate_id == agg.c.id)
                                ).where(rpa.c.resource_provider_id.in_(ids))
        found: dict[int, set[str]] = {i: set() for i in ids}
        for row in self.execute(session, query):
            found[row.resource_provider_id].add(row.uuid)
        return found

    def _allocations(self, session: Any, ids: list[int], rows: _Rows) -> None:
        """Every allocation of every consumer holding anything on ``ids``,
        with the consumer's generation, project, user and type.  Inner
        joins, as Placement's own reads: an allocation without a consumer
        record is not shown by the API either."""
        sa = self._sa
        alloc, rp, consumer, project, user = (
            self._t['Allocation'], self._t['ResourceProvider'],
            self._t['Consumer'], self._t['Project'], self._t['User'])
        holding = sa.select(alloc.c.consumer_id).where(
            alloc.c.resource_provider_id.in_(ids))
        query = sa.select(
            alloc.c.consumer_id, alloc.c.resource_provider_id,
            alloc.c.resource_class_id, alloc.c.used,
            rp.c.uuid.label('provider'), consumer.c.generation,
            consumer.c.consumer_type_id,
            project.c.external_id.label('project'),
            user.c.external_id.label('user'),
        ).select_from(
            alloc.join(rp, alloc.c.resource_provider_id == rp.c.id)
            .join(consumer, alloc.c.consumer_id == consumer.c.uuid)
            .join(project, consumer.c.project_id == project.c.id)
            .join(user, consumer.c.user_id == user.c.id)
        ).where(alloc.c.consumer_id.in_(holding))
        amounts: dict[str, dict[str, dict[str, int]]] = {}
        identity: dict[str, tuple[str, str, int, str]] = {}
        wanted = set(ids)
        for row in self.execute(session, query):
            rc = self._ctx.rc_cache.string_from_id(row.resource_class_id)
            per = amounts.setdefault(row.consumer_id, {})
            per.setdefault(row.provider, {})[rc] = row.used
            identity[row.consumer_id] = (
                row.project, row.user, row.generation,
                self._ctx.ct_cache.string_from_id(row.consumer_type_id))
            if row.resource_provider_id in wanted:
                rows.held.setdefault(row.resource_provider_id, set()).add(
                    row.consumer_id)
        for uuid, allocations in amounts.items():
            project_id, user_id, generation, kind = identity[uuid]
            rows.records[uuid] = engine.ConsumerRecord(
                uuid, allocations, project_id=project_id, user_id=user_id,
                consumer_generation=generation, consumer_type=kind)

    def _sharing(self, session: Any, refs: Sequence[str]
                 ) -> dict[str, engine.Provider]:
        if not refs:
            return {}
        query, rp, _ = self.provider_query()
        found = [self._provider_row(r) for r in self.execute(
            session, query.where(self._sa.or_(rp.c.uuid.in_(list(refs)),
                                              rp.c.name.in_(list(refs)))))]
        ids = [p.id for p in found]
        inventory, traits = (self._inventories(session, ids),
                             self._traits(session, ids))
        shared = {}
        for ref in refs:
            row = next((p for p in found if p.uuid == ref), None) or next(
                (p for p in found if p.name == ref), None)
            if row is None:
                raise exception.NodeNotFound(method='GET',
                                             url='/resource_providers',
                                             status=None, node=ref)
            shared[ref] = dataclasses.replace(
                _provider(row, inventory[row.id], traits[row.id]),
                parent=None)
        return shared

    @staticmethod
    def _node(root: str, tree: list[ProviderRow], rows: _Rows,
              sharing: dict[str, engine.Provider]) -> BulkNode:
        ordered = _top_down(root, tree)
        providers = {p.uuid: _provider(p, rows.inventory[p.id],
                                       rows.traits[p.id], root)
                     for p in ordered}
        consumers = sorted({c for p in ordered
                            for c in rows.held.get(p.id, ())})
        return BulkNode(
            root, providers[root].name, engine.Snapshot(root, providers),
            {c: rows.records[c] for c in consumers}, dict(sharing),
            {p.uuid: frozenset(rows.aggregates[p.id]) for p in ordered})

    def consumer_query(self, uuids: Sequence[str]) -> Any:
        """A select of the consumers ``uuids``: ids, generation, type,
        and the ids and external ids of their project and user."""
        consumer, project, user = (self._t['Consumer'], self._t['Project'],
                                   self._t['User'])
        return self._sa.select(
            consumer.c.id, consumer.c.uuid, consumer.c.generation,
            consumer.c.consumer_type_id,
            project.c.id.label('project_id'),
            project.c.external_id.label('project'),
            user.c.id.label('user_id'), user.c.external_id.label('user'),
        ).select_from(
            consumer.join(project, consumer.c.project_id == project.c.id)
            .join(user, consumer.c.user_id == user.c.id)
        ).where(consumer.c.uuid.in_(list(uuids)))

    # -- the reshape ------------------------------------------------------
    def reshape(self, plan: engine.ReshapePlan) -> Response:
        """``plan``'s reshape through Placement's own reshaper, in one
        transaction; the answer ``POST /reshaper`` would give.

        :raises PlacementUnavailable: the database went away; the
            reshape may or may not have been committed.
        """
        self.expect(())  # a write: no batch read before it is served
        return reshaper.reshape(self, untyped_body(plan))

    @property
    def context(self) -> Any:
        """Placement's request context this object reads with."""
        return self._ctx

    @property
    def manager(self) -> Any:
        """Placement's transaction manager (``placement.db_api``)."""
        return self._manager

    @property
    def sa(self) -> Any:
        """SQLAlchemy, as Placement's database layer uses it."""
        return self._sa

    @property
    def tables(self) -> dict[str, Any]:
        """Placement's tables, by the name of their model."""
        return self._t


def _top_down(root: str, tree: list[ProviderRow]) -> list[ProviderRow]:
    """Parents before children, as the API read orders them."""
    by_parent: dict[str | None, list[ProviderRow]] = {}
    for row in tree:
        parent = None if row.uuid == root else row.parent_provider_uuid
        by_parent.setdefault(parent, []).append(row)
    ordered: list[ProviderRow] = []
    frontier = by_parent.get(None, [])
    while frontier:
        ordered.extend(frontier)
        frontier = [c for p in frontier for c in by_parent.get(p.uuid, [])]
    return ordered


def _provider(row: ProviderRow, inventory: dict[str, dict[str, Any]],
              traits: set[str], root: str | None = None) -> engine.Provider:
    return engine.Provider(
        uuid=row.uuid, name=row.name,
        parent=None if row.uuid == root else row.parent_provider_uuid,
        generation=row.generation,
        inventory=model.read_inventory(row.name, inventory),
        traits=frozenset(traits))


def untyped_body(plan: engine.ReshapePlan) -> dict[str, Any]:
    """The ``POST /reshaper`` body of ``plan`` at 1.37, as JSON would
    carry it: the consumers' types are left as they are."""
    return dict(json.loads(json.dumps(body.reshape_body(
        plan, microversion.untyped(microversion.NEWEST_KNOWN)))))
