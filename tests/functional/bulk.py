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

"""The offline database layer next to Placement's API, on one database.

Run in a process of its own per database (Placement configures one
database per process); prints one JSON document for the test to compare::

    python -m tests.functional.bulk reads URL
    python -m tests.functional.bulk answers URL

*reads*: a scene of many shapes (flat nodes, a pivoted node, a sharing
provider, a migration across two nodes, untyped consumers, custom classes
and traits, aggregates), read through the API (every consumer read whole,
with its type) and through the database, node by node and in a batch.

*answers*: bodies of ``POST /reshaper`` that Placement refuses, sent to its
API and to its reshaper through the database layer, each answer with the
state of the node after it; and one reshape that succeeds, each way on a
node of its own, with what it leaves.

*deadlock* (``deadlock URL database|api``): a pivot, through the database
layer or Placement's API, whose reshape the database picks as the victim
of a real deadlock, once, as its allocations are written (see
:class:`Deadlocker`); its outcome, the deadlocks the database reported,
and each consumer's totals before and after.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import sys
import tempfile
from typing import Any
import uuid as uuidlib

import nested_pivot
from nested_pivot import engine
from nested_pivot import exception
from nested_pivot import layouts
from nested_pivot.journal import Journal
from nested_pivot.placement import database
from nested_pivot.placement import operations
from nested_pivot.placement import PlacementClient
from nested_pivot.placement import read
from nested_pivot.placement import reshaper
from nested_pivot.service import workflows
from tests.functional import fleet
from tests.functional import harness
from tests.functional import seed

CELLS = layouts.numa([layouts.NumaCell(vcpu={'total': 16}, memory_mb={
    'total': 16384}), layouts.NumaCell(vcpu={'total': 16}, memory_mb={
        'total': 16384})])


def provider_doc(provider: engine.Provider) -> dict[str, Any]:
    return {'uuid': provider.uuid, 'name': provider.name,
            'parent': provider.parent, 'generation': provider.generation,
            'inventory': {rc: inv.as_dict() for rc, inv
                          in sorted(provider.inventory.items())},
            'traits': sorted(provider.traits)}


def node_doc(state: read.NodeRead) -> dict[str, Any]:
    return {'root': state.root, 'name': state.name,
            # In uuid order: Placement's own listing has no ORDER BY, and
            # PostgreSQL returns updated rows in another order.
            'providers': [provider_doc(p) for _, p in sorted(
                state.snapshot.providers.items())],
            'records': {c: dataclasses.asdict(r) for c, r
                        in sorted(state.records.items())},
            'sharing': {ref: provider_doc(p) for ref, p
                        in sorted(state.sharing.items())}}


# -- reads ---------------------------------------------------------------
def scene(adapter: Any) -> dict[str, Any]:
    """Many shapes on one database; what the reads are asked for."""
    made = fleet.fleet(adapter, 'bulk', 8)
    names = sorted(made)
    numa = [n for n in names if '-numa-' in n]
    roots = {p['name']: p['uuid'] for p in seed.call(
        adapter, 'GET', '/resource_providers')['resource_providers']}
    # Pivoted already, through the API: children with traits.
    nested_pivot.pivot(PlacementClient(adapter), numa[0], CELLS)
    # A sharing provider in an aggregate with a node, and an instance
    # holding disk on it.
    share_name = seed.unique('nfs')
    share = seed.sharing_provider(adapter, share_name, 1000,
                                  [roots[numa[1]]])
    seed.allocate(adapter, str(uuidlib.uuid4()), {
        roots[numa[1]]: {'VCPU': 1, 'MEMORY_MB': 512},
        share: {'DISK_GB': 30}})
    # A migration holding on two nodes, of another project and user.
    migration = str(uuidlib.uuid4())
    seed.call(adapter, 'PUT', f'/allocations/{migration}', {
        'allocations': {roots[numa[0]]: {'resources': {'DISK_GB': 5}},
                        roots[numa[1]]: {'resources': {'VCPU': 2}}},
        'project_id': str(uuidlib.uuid4()),
        'user_id': str(uuidlib.uuid4()),
        'consumer_generation': None, 'consumer_type': 'MIGRATION'})
    # A custom class and a custom trait, on a node of its own with an
    # empty child; and a node with no inventory at all.
    fpga = seed.flat_node(adapter, seed.unique('bulk-fpga'),
                          {'CUSTOM_FPGA_X': {'total': 4}})
    seed.add_traits(adapter, fpga, 'CUSTOM_BULK_TRAIT', 'HW_CPU_X86_AVX2')
    seed.child(adapter, fpga, seed.unique('bulk-fpga-child'), {})
    seed.instances(adapter, fpga, 2, {'CUSTOM_FPGA_X': 1},
                   consumer_type=None)
    seed.call(adapter, 'POST', '/resource_providers',
              {'name': seed.unique('bulk-empty')})
    return {'share': share, 'share_name': share_name,
            'migration': migration}


def api_read(client: PlacementClient, root: str, sharing: list[str]
             ) -> read.NodeRead:
    state = read.read_node(client, root, sharing)
    read.complete(client, state, tuple(state.records))
    return state


def reads(connection: str) -> dict[str, Any]:
    conf = harness.configure_database(connection)
    with harness.direct_placement(conf) as adapter:
        found = scene(adapter)
        sharing = [found['share'], found['share_name']]
        api = PlacementClient(adapter)
        bulk = PlacementClient(adapter,
                               database=database.PlacementDatabase(conf))
        roots = read.list_roots(api)
        batch_db = database.PlacementDatabase(conf)
        batch = PlacementClient(adapter, database=batch_db)
        read.expect(batch, [uuid for uuid, _ in roots])
        queries = batch_db.queries
        batched = {uuid: node_doc(read.read_node(batch, uuid))
                   for uuid, _ in roots}
        doc: dict[str, Any] = {
            'roots': {'api': roots, 'bulk': read.list_roots(bulk)},
            'nodes': {
                uuid: {'api': node_doc(api_read(api, uuid, sharing)),
                       'bulk': node_doc(read.read_node(bulk, uuid, sharing))}
                for uuid, _ in roots},
            'batch': {
                'api': {uuid: node_doc(api_read(api, uuid, []))
                        for uuid, _ in roots},
                'bulk': batched,
                'queries': batch_db.queries - queries},
            'generations': {
                uuid: {'api': read.generations(api, uuid),
                       'bulk': read.generations(bulk, uuid)}
                for uuid, _ in roots},
            'aggregates': aggregates(adapter, bulk, roots),
            'find': finds(api, bulk, roots),
            'migration': found['migration'],
            'read_only': read_only(batch_db),
        }
    return doc


def read_only(db: database.PlacementDatabase) -> str:
    """What the database answers to a write in the reads' transaction."""
    table = db.tables['Trait']
    try:
        with db.reading() as session:
            session.execute(table.insert().values(name='CUSTOM_BULK_WRITE'))
    except Exception as err:
        return f'{type(err).__name__}: {err}'.splitlines()[0]
    return 'written'


def aggregates(adapter: Any, bulk: PlacementClient,
               roots: list[tuple[str, str]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for uuid, _ in roots:
        state = read.read_node(bulk, uuid)
        for provider in state.snapshot.providers:
            api = seed.call(adapter, 'GET', f'/resource_providers/'
                            f'{provider}/aggregates', mv='1.19')
            found[provider] = {'api': sorted(api['aggregates']),
                               'bulk': sorted(state.aggregates[provider])}
    return found


def finds(api: PlacementClient, bulk: PlacementClient,
          roots: list[tuple[str, str]]) -> dict[str, Any]:
    """find_node by name, by uuid, by a child's name, and by nothing."""
    refs = [name for _, name in roots] + [uuid for uuid, _ in roots]
    child = next(p for uuid, _ in roots for p in read.read_node(
        api, uuid).snapshot.providers.values() if p.parent)
    refs += [child.name, child.uuid, 'bulk-no-such-node',
             str(uuidlib.uuid4())]
    return {ref: {'api': _find(api, ref), 'bulk': _find(bulk, ref)}
            for ref in refs}


def _find(client: PlacementClient, ref: str) -> Any:
    try:
        return list(read.find_node(client, ref))
    except nested_pivot.exception.PivotError as err:
        return f'{type(err).__name__}: {err}'


# -- answers -------------------------------------------------------------
FLAT = {'VCPU': {'total': 32}, 'MEMORY_MB': {'total': 32768},
        'DISK_GB': {'total': 100}}


def _planned(adapter: Any, bulk: PlacementClient, count: int = 3
             ) -> tuple[str, list[str], dict[str, Any]]:
    """A flat node, its children made, and the body of its reshape."""
    name = seed.unique('answer')
    root = seed.flat_node(adapter, name, FLAT)
    vms = seed.instances(adapter, root, count, {
        'VCPU': 2, 'MEMORY_MB': 1024, 'DISK_GB': 10})
    _, plan = operations.read_and_plan(bulk, name, CELLS)
    from nested_pivot.placement import writes

    writes.create_children(bulk, plan)
    _, plan = operations.read_and_plan(bulk, name, CELLS)
    return root, vms, database.untyped_body(plan)


def _bad_bodies(adapter: Any, root: str, vms: list[str],
                data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each body Placement must refuse, by what is wrong with it."""
    children = [u for u in data['inventories'] if u != root]

    def edited(change: Any) -> dict[str, Any]:
        body = copy.deepcopy(data)
        change(body)
        return body

    def stale_provider(body: dict[str, Any]) -> None:
        body['inventories'][root]['resource_provider_generation'] -= 1

    def stale_consumer(body: dict[str, Any]) -> None:
        body['allocations'][vms[0]]['consumer_generation'] += 1

    def over_capacity(body: dict[str, Any]) -> None:
        for child in children:
            body['inventories'][child]['inventories']['VCPU']['total'] = 1

    def in_use(body: dict[str, Any]) -> None:
        # The root loses DISK_GB, which an unlisted consumer holds.
        del body['allocations'][vms[-1]]
        del body['inventories'][root]['inventories']['DISK_GB']

    def unknown_provider(body: dict[str, Any]) -> None:
        body['inventories'][str(uuidlib.uuid4())] = body[
            'inventories'][root]

    def unknown_target(body: dict[str, Any]) -> None:
        body['allocations'][vms[0]]['allocations'][
            str(uuidlib.uuid4())] = {'resources': {'VCPU': 1}}

    def unknown_class(body: dict[str, Any]) -> None:
        body['allocations'][vms[0]]['allocations'][root]['resources'][
            'CUSTOM_NO_SUCH_CLASS'] = 1

    def bad_schema(body: dict[str, Any]) -> None:
        body['allocations'][vms[0]]['allocations'][root]['resources'][
            'DISK_GB'] = 0

    def vanished(body: dict[str, Any]) -> None:
        body['allocations'][str(uuidlib.uuid4())] = body['allocations'][
            vms[0]]

    return {fn.__name__: edited(fn) for fn in (
        stale_provider, stale_consumer, over_capacity, in_use,
        unknown_provider, unknown_target, unknown_class, bad_schema,
        vanished)}


def _answer(status: int, body: Any) -> dict[str, Any]:
    errors = (body or {}).get('errors') if isinstance(body, dict) else None
    return {'status': status,
            'code': errors[0].get('code') if errors else None}


def _state(adapter: Any, root: str, vms: list[str]) -> Any:
    return seed.dump(adapter, root, vms)


def _normalized(adapter: Any, root: str, vms: list[str]) -> Any:
    """What a reshape leaves, by provider name suffix, uuids aside."""
    tree = {p['uuid']: p for p in seed.tree(adapter, root)}

    def short(uuid: str) -> str:
        return tree[uuid]['name'].rsplit('_', 1)[-1] if uuid != root \
            else 'root'

    providers = {}
    for uuid, provider in tree.items():
        providers[short(uuid)] = {
            'generation': provider['generation'],
            'inventories': seed.call(adapter, 'GET', f'/resource_providers/'
                                     f'{uuid}/inventories')['inventories'],
            'usages': seed.call(adapter, 'GET', f'/resource_providers/'
                                f'{uuid}/usages')['usages']}
    consumers = sorted(
        (record['consumer_generation'], record['project_id'],
         record['user_id'], record['consumer_type'],
         sorted((short(rp), e['resources']) for rp, e
                in record['allocations'].items()))
        for record in (seed.allocations(adapter, c) for c in vms))
    return {'providers': providers, 'consumers': consumers}


def answers(connection: str) -> dict[str, Any]:
    conf = harness.configure_database(connection)
    with harness.direct_placement(conf) as adapter:
        db = database.PlacementDatabase(conf)
        bulk = PlacementClient(adapter, database=db)
        root, vms, data = _planned(adapter, bulk)
        refused = {}
        for case, body in _bad_bodies(adapter, root, vms, data).items():
            before = _state(adapter, root, vms)
            mine = reshaper.reshape(db, body)
            after_mine = _state(adapter, root, vms)
            resp = adapter.post('/reshaper', json=body, microversion='1.37',
                                raise_exc=False)
            theirs = _answer(resp.status_code,
                             resp.json() if resp.content else None)
            refused[case] = {
                'database': _answer(mine.status, mine.body),
                'api': theirs,
                'unchanged': [before == after_mine,
                              before == _state(adapter, root, vms)]}
        done = {}
        for way in ('database', 'api'):
            root, vms, data = _planned(adapter, bulk, 4)
            if way == 'database':
                status = reshaper.reshape(db, data).status
            else:
                status = adapter.post('/reshaper', json=data,
                                      microversion='1.37',
                                      raise_exc=False).status_code
            done[way] = {'status': status,
                         'state': _normalized(adapter, root, vms)}
    return {'refused': refused, 'done': done}


# -- deadlock ------------------------------------------------------------
class Deadlocker:
    """Another transaction that deadlocks with the reshape of ``root``,
    once, as the reshape starts writing its allocations.

    Order matters.  At that point the reshape holds the row lock of every
    provider it writes, and has written the interim inventories.  This
    transaction first grows heavier than the reshape (so that the
    database picks the reshape as the victim), then locks the gap the
    reshape's allocations go into (every provider id from the first
    child's on), then, in a thread, waits for the root's row.  The
    reshape's next insert then waits for this one, which waits for it.
    """

    def __init__(self, url: str, root: str) -> None:
        import sqlalchemy as sa

        self.sa = sa
        self.engine = sa.create_engine(url)
        self.root = root
        self.fired = False
        self.thread: Any = None

    def before(self, conn: Any, cursor: Any, statement: str, *args: Any
               ) -> None:
        if self.fired or not statement.startswith('DELETE FROM allocations'):
            return
        import threading
        import time

        self.fired = True
        text = self.sa.text
        with self.engine.begin() as setup:
            setup.execute(text('CREATE TABLE weight (n INTEGER)'))
        other = self.engine.connect()
        other.execute(text('INSERT INTO weight VALUES (:n)'),
                      [{'n': n} for n in range(2000)])
        root_id = other.execute(text(
            'SELECT id FROM resource_providers WHERE uuid = :u'),
            {'u': self.root}).scalar()
        other.execute(text(
            'SELECT id FROM allocations WHERE resource_provider_id > :r '
            'FOR UPDATE'), {'r': root_id})

        def wait_for_root() -> None:
            try:
                other.execute(text('SELECT id FROM resource_providers '
                                   'WHERE id = :r FOR UPDATE'),
                              {'r': root_id})
            finally:
                other.rollback()
                other.close()

        self.thread = threading.Thread(target=wait_for_root)
        self.thread.start()
        time.sleep(0.5)  # until it waits for the root's row


def _deadlocked_pivot(client: PlacementClient, name: str, root: str,
                      way: str, state: str) -> dict[str, Any]:
    if way != 'journaled':
        result = nested_pivot.pivot(client, name, CELLS)
        return {'applied': result.applied, 'retries': result.retries}
    book = Journal(state)
    done = workflows.pivot_node(client, book, name, CELLS)
    return {'applied': done.result == workflows.Result.DONE,
            'retries': done.retries,
            'journal': [[e.kind, e.body] for e in book.entries(root)]}


class Retries(logging.Handler):
    """The reasons the pivot gave for re-reading its node."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.reasons: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if 're-reading' in record.getMessage():
            self.reasons.append(record.getMessage())


def deadlock(connection: str, way: str) -> dict[str, Any]:
    """``way``: through the ``database`` layer, or Placement's ``api``;
    ``journaled``: the database layer, through the CLI's journaled pivot,
    the journal's entries returned too."""
    from sqlalchemy import event

    conf = harness.configure_database(connection)
    with harness.direct_placement(conf) as adapter:
        db = database.PlacementDatabase(conf)
        client = PlacementClient(adapter, database=None if way == 'api'
                                 else db)
        name = seed.unique('deadlock')
        root = seed.flat_node(adapter, name, FLAT)
        vms = seed.instances(adapter, root, 3, {
            'VCPU': 2, 'MEMORY_MB': 1024, 'DISK_GB': 10})
        before = seed.totals(adapter, vms)
        victims: list[str] = []
        deadlocker = Deadlocker(connection, root)
        writer = db.manager.writer.get_engine()

        def seen(context: Any) -> None:
            if reshaper._rolled_back(context.original_exception):
                victims.append(str(context.original_exception))

        retried = Retries()
        operations.LOG.logger.addHandler(retried)
        operations.LOG.logger.setLevel(logging.INFO)
        event.listen(writer, 'before_cursor_execute', deadlocker.before)
        event.listen(writer, 'handle_error', seen)
        state = tempfile.TemporaryDirectory()
        try:
            outcome = _deadlocked_pivot(client, name, root, way,
                                        state.name)
        except exception.PivotError as err:
            outcome = {'error': str(err)}
        finally:
            state.cleanup()
            operations.LOG.logger.removeHandler(retried)
            event.remove(writer, 'before_cursor_execute', deadlocker.before)
            event.remove(writer, 'handle_error', seen)
            if deadlocker.thread is not None:
                deadlocker.thread.join()
        return {'outcome': outcome, 'fired': deadlocker.fired,
                'why': retried.reasons,
                'victims': victims, 'before': before,
                'after': seed.totals(adapter, vms),
                'children': len(seed.tree(adapter, root)) - 1,
                'on_root': sorted(seed.call(
                    adapter, 'GET', f'/resource_providers/{root}/'
                    f'inventories')['inventories'])}


if __name__ == '__main__':
    mode, url, *more = sys.argv[1:]
    print(json.dumps({'reads': reads, 'answers': answers,
                      'deadlock': deadlock}[mode](url, *more)))
