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

"""A reshape through Placement's own reshaper, in this process (offline).

``POST /reshaper``'s handler checks the body against its schema, looks
each provider up and checks its generation, builds the inventories, then
for each consumer looks up its project, user and record (checking its
generation) and its providers, and calls
``placement.objects.reshaper.reshape``, which writes the interim
inventories, replaces the allocations (checking capacity, and every
provider's and consumer's generation) and writes the final inventories, in
one transaction.

This does the same with the same Placement code, except that the
providers and consumers are looked up in one query each, in the
transaction of the reshape itself, and that every consumer keeps the
project, user and type the database holds (as at microversion 1.37; a
plan never changes them).  The answer is the one the handler would give:
204, or 400 or 409 with Placement's error code.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import json
from typing import Any
from typing import TYPE_CHECKING

from nested_pivot import exception
from nested_pivot.placement.http import Response

if TYPE_CHECKING:
    from nested_pivot.placement.database import PlacementDatabase

URL = '/reshaper'


class _Refused(Exception):
    """What the handler would answer instead of 204."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


def reshape(db: PlacementDatabase, data: dict[str, Any]) -> Response:
    """Reshape as ``POST /reshaper`` with body ``data`` (at 1.37) would;
    its answer.

    :raises PlacementUnavailable: the database went away (the reshape
        may or may not have been committed).
    """
    from oslo_db import exception as db_exc
    from placement import errors
    from placement import exception as placement_exc
    import webob.exc

    try:
        _check_schema(data)
        _write(db, data)
    except _Refused as err:
        return _answer(err.status, err.code, err.detail)
    except webob.exc.HTTPException as err:
        return _answer(err.code, err.comment or errors.DEFAULT,
                       str(err.detail or err))
    # As the handler maps them (placement/handlers/reshaper.py).
    except placement_exc.ConcurrentUpdateDetected as err:
        return _answer(409, errors.CONCURRENT_UPDATE,
                       f'update conflict: {err}')
    except placement_exc.NotFound as err:
        return _answer(400, errors.DEFAULT,
                       f'malformed reshaper data: {err}')
    except placement_exc.InventoryInUse as err:
        return _answer(409, errors.INVENTORY_INUSE, f'update conflict: {err}')
    except placement_exc.InvalidInventory as err:
        return _answer(409, errors.DEFAULT,
                       f'Unable to allocate inventory: {err}')
    except db_exc.DBConnectionError as err:
        raise exception.PlacementUnavailable(
            url='the placement database', attempts=1,
            detail=f'{type(err).__name__}: {_first_line(err)}') from None
    except db_exc.DBError as err:
        if not _rolled_back(err):
            raise
        # Another worker's transaction held what this one needed, and the
        # database rolled this one back (a deadlock, or the statements
        # after one): nothing was written, as with a generation conflict.
        refused = _rolled_back_answer(err)
        return _answer(refused.status, refused.code, refused.detail)
    return Response('POST', URL, 204, None)


# PostgreSQL's SQLSTATEs and MySQL's error numbers of a transaction the
# database rolled back for another one: serialization failure, deadlock,
# and the failed transaction that statements after a deadlock meet;
# deadlock and lock wait timeout.
ROLLED_BACK = frozenset({'40001', '40P01', '25P02', 1213, 1205})


def _rolled_back(err: BaseException | None) -> bool:
    """Did the database roll the transaction back for another writer?"""
    from oslo_db import exception as db_exc

    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, db_exc.DBDeadlock):
            return True
        code = getattr(err, 'pgcode', None) or next(
            iter(getattr(err, 'args', ()) or ()), None)
        if code in ROLLED_BACK:
            return True
        err = getattr(err, 'orig', None) or err.__cause__ or err.__context__
    return False


def _first_line(err: BaseException) -> str:
    return str(err).splitlines()[0][:300] if str(err) else type(err).__name__


def _answer(status: int, code: str, detail: str) -> Response:
    return Response('POST', URL, status,
                    {'errors': [{'status': status, 'code': code,
                                 'detail': detail}]})


def _check_schema(data: dict[str, Any]) -> None:
    """Placement's own check of the body, at 1.37 (its 1.34 schema)."""
    from placement import util
    from placement.schemas import reshaper as schema

    util.extract_json(json.dumps(data), schema.POST_RESHAPER_SCHEMA_V1_34)


def _write(db: PlacementDatabase, data: dict[str, Any]) -> None:
    from placement.objects import reshaper as reshaper_obj

    ctx = db.context
    with db.manager.writer.using(ctx), _victim(db, ctx) as rolled_back:
        try:
            # Order matters.  First the rows of every provider and
            # consumer the reshape writes are locked, providers then
            # consumers, each by id: two workers whose nodes share a
            # provider (a sharing one, another host) or a consumer (a
            # migration) take their turns, in one order for all, instead
            # of failing each other's generation checks.  Then the
            # lookups, in the same transaction, so the generations they
            # give are the ones its updates check.
            _lock(db, ctx, data)
            providers = _providers(db, ctx, data)
            inventories = _inventories(providers, data['inventories'])
            consumers = _consumers(db, ctx, data['allocations'])
            allocations = _allocations(ctx, providers, consumers,
                                       data['allocations'])
            reshaper_obj.reshape(ctx, inventories, allocations)
        except Exception:
            if rolled_back:
                raise _rolled_back_answer(rolled_back[0]) from None
            raise
        if rolled_back:
            raise _rolled_back_answer(rolled_back[0])


@contextlib.contextmanager
def _victim(db: PlacementDatabase, ctx: Any
            ) -> Iterator[list[BaseException]]:
    """The errors of this transaction's connection by which the database
    rolled the transaction back for another one's.

    Placement retries the allocation writes of a reshape alone on a
    deadlock (``_set_allocations`` is wrapped in oslo.db's
    ``wrap_db_retry``).  InnoDB has by then rolled back the whole
    transaction, the interim inventories with it, and the retry runs in a
    new one: it fails for want of the inventories ("Inventory ...
    invalid"), or, worse, it succeeds and would commit half a reshape.
    Seen here, either way the reshape is rolled back whole and answered
    as a conflict: the node is re-read and planned again.
    """
    from sqlalchemy import event

    engine = db.manager.writer.get_engine()
    connection = ctx.session.connection()
    seen: list[BaseException] = []

    def handle_error(context: Any) -> None:
        if context.connection is connection and _rolled_back(
                context.original_exception):
            seen.append(context.original_exception)

    event.listen(engine, 'handle_error', handle_error)
    try:
        yield seen
    finally:
        event.remove(engine, 'handle_error', handle_error)


def _rolled_back_answer(err: BaseException) -> _Refused:
    from placement import errors

    return _Refused(409, errors.CONCURRENT_UPDATE,
                    f'rolled back by the database: {_first_line(err)}')


def _lock(db: PlacementDatabase, ctx: Any, data: dict[str, Any]) -> None:
    rp, consumer = db.tables['ResourceProvider'], db.tables['Consumer']
    select = db.sa.select
    db.execute(ctx.session, select(rp.c.id).where(
        rp.c.uuid.in_(sorted(_provider_uuids(data)))).order_by(
        rp.c.id).with_for_update())
    db.execute(ctx.session, select(consumer.c.id).where(
        consumer.c.uuid.in_(sorted(data['allocations']))).order_by(
        consumer.c.id).with_for_update())


def _provider_uuids(data: dict[str, Any]) -> set[str]:
    return set(data['inventories']) | {
        rp for record in data['allocations'].values()
        for rp in record['allocations']}


def _providers(db: PlacementDatabase, ctx: Any, data: dict[str, Any]
               ) -> dict[str, Any]:
    """Placement's provider objects of every provider the body names."""
    from placement.objects import resource_provider as rp_obj

    query, rp, _ = db.provider_query()
    found = db.execute(ctx.session, query.where(rp.c.uuid.in_(
        sorted(_provider_uuids(data)))))
    return {row.uuid: rp_obj.ResourceProvider(
        ctx, id=row.id, uuid=row.uuid, name=row.name,
        generation=row.generation, root_provider_uuid=row.root_uuid,
        parent_provider_uuid=row.parent_uuid) for row in found}


def _inventories(providers: dict[str, Any], wanted: dict[str, Any]
                 ) -> dict[Any, list[Any]]:
    """As the handler builds them, its generation check first."""
    import copy

    from placement import errors
    from placement.handlers import inventory

    found = {}
    for uuid, entry in wanted.items():
        provider = providers.get(uuid)
        if provider is None:
            raise _Refused(400, errors.RESOURCE_PROVIDER_NOT_FOUND,
                           f'Resource provider {uuid} in inventories not '
                           f'found')
        given = entry['resource_provider_generation']
        if given != provider.generation:
            raise _Refused(
                409, errors.CONCURRENT_UPDATE,
                f'resource provider generation conflict for provider '
                f'{uuid}: actual: {provider.generation}, given: {given}')
        objects = []
        for rc, raw in entry['inventories'].items():
            fields = copy.copy(inventory.INVENTORY_DEFAULTS)
            fields.update(raw)
            objects.append(inventory.make_inventory_object(provider, rc,
                                                           **fields))
        found[provider] = objects
    return found


def _consumers(db: PlacementDatabase, ctx: Any, wanted: dict[str, Any]
               ) -> dict[str, Any]:
    """Placement's consumer objects, each checked as the handler's
    ``ensure_consumer`` checks it: the generation given is the one held.
    A consumer that changed its project or user since the read changed
    its generation too, and conflicts the same way."""
    from placement import errors
    from placement.objects import consumer as consumer_obj
    from placement.objects import project as project_obj
    from placement.objects import user as user_obj

    found = {}
    for row in db.execute(ctx.session, db.consumer_query(sorted(wanted))):
        found[row.uuid] = consumer_obj.Consumer(
            ctx, id=row.id, uuid=row.uuid, generation=row.generation,
            consumer_type_id=row.consumer_type_id,
            project=project_obj.Project(ctx, id=row.project_id,
                                        external_id=row.project),
            user=user_obj.User(ctx, id=row.user_id, external_id=row.user))
    for uuid, record in wanted.items():
        held = found.get(uuid)
        given = record.get('consumer_generation')
        if held is None or held.generation != given or (
                held.project.external_id, held.user.external_id) != (
                record['project_id'], record['user_id']):
            actual = 'null' if held is None else held.generation
            raise _Refused(409, errors.CONCURRENT_UPDATE,
                           f'consumer generation conflict - expected '
                           f'{actual} but got {given} (consumer {uuid})')
    return found


def _allocations(ctx: Any, providers: dict[str, Any],
                 consumers: dict[str, Any], wanted: dict[str, Any]
                 ) -> list[Any]:
    """As the handler's ``create_allocation_list`` builds them: no
    allocations at all means every allocation of the consumer goes."""
    from placement import errors
    from placement.objects import allocation as alloc_obj

    found = []
    for uuid, record in wanted.items():
        if not record['allocations']:
            for held in alloc_obj.get_all_by_consumer_id(ctx, uuid):
                held.used = 0
                found.append(held)
            continue
        for rp, entry in record['allocations'].items():
            if rp not in providers:
                raise _Refused(400, errors.DEFAULT,
                               f"Allocation for resource provider '{rp}' "
                               f"that does not exist.")
            found.extend(
                alloc_obj.Allocation(resource_provider=providers[rp],
                                     consumer=consumers[uuid],
                                     resource_class=rc, used=amount)
                for rc, amount in entry['resources'].items())
    return found
