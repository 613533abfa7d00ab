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

"""Two compute nodes with every kind of consumer an audit must judge, in
a real nova cell database and a real Placement.

Nodes A and B (``aud-a`` and ``aud-b``, or with a prefix of their own on a
shared server) have two NUMA cells each.  Before the pivot (flat): on
aud-a a live instance ``live``, an instance ``deleted`` that nova deletes
after the pivot (its allocations stay: the state a delete undone by the
reshape leaves), the migration ``mig`` of a finished resize of ``moved``
to aud-b; on aud-b ``moved`` and a live ``elsewhere``.  ``deleted`` also
holds DISK_GB on a sharing provider (outside the tree) and bandwidth on a
neutron provider under aud-a's root (foreign: nested_pivot did not make
it).

After the pivot: an ``unknown`` consumer on aud-a's NUMA0 and root, one
(``foreign_only``) on the neutron provider alone, a leftover of
``elsewhere`` on aud-a's NUMA1, ``moved`` on aud-a too (its migration is
in progress there), a claim of ``busy`` (an instance nova is unshelving,
on no host yet), and a stray: ``live`` holding VCPU on aud-a's root, which
has none after the pivot (hazard 4's end state, written into Placement's
database).

The Placement side runs through Placement's own API with any adapter; for
an offline database it runs as a process of its own::

    python -m tests.nova_db.audit_fleet before|after URL < fleet.json
    python -m tests.nova_db.audit_fleet api URL CELL_URL < uuids.json

(``api``: nova's API database with the cell and an instance mapping of
each uuid, as nova's API writes one before it schedules a boot.)
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import sys
from typing import Any
import uuid as uuidlib

from tests.functional import harness
from tests.functional import seed

BW = 'NET_BW_EGR_KILOBIT_PER_SEC'
FLOATING = {'VCPU': 1, 'MEMORY_MB': 512, 'DISK_GB': 10}
CELLS = [(4, 0, 8192), (4, 0, 8192)]


def _uuid() -> str:
    return str(uuidlib.uuid4())


@dataclasses.dataclass
class Fleet:
    """The names and uuids of one fleet; the instances' come from nova."""

    live: str
    deleted: str
    moved: str
    mig: str
    elsewhere: str
    busy: str
    a: str = 'aud-a'
    b: str = 'aud-b'
    unknown: str = dataclasses.field(default_factory=_uuid)
    foreign_only: str = dataclasses.field(default_factory=_uuid)
    neutron: str = dataclasses.field(default_factory=_uuid)
    share: str = dataclasses.field(default_factory=_uuid)

    @property
    def neutron_name(self) -> str:
        return f'{self.a}:Open vSwitch agent:br-ex'

    @property
    def share_name(self) -> str:
        return f'{self.a}-share'

    def document(self) -> str:
        return json.dumps(dataclasses.asdict(self))


def nova_side(cell: Any, prefix: str = 'aud') -> Fleet:
    """The nodes and instances in nova (``cell``: a NovaCell)."""
    a, b = f'{prefix}-a', f'{prefix}-b'
    for name in (a, b):
        cell.node(name, CELLS)
    live = cell.instance(a, None, save=False)
    deleted = cell.instance(a, None, save=False)
    moved = cell.instance(a, None, save=False)
    mig = cell.migration(moved, a, b, None, None)
    elsewhere = cell.instance(b, None, save=False)
    busy = cell.instance(a, None, save=False)
    return Fleet(live, deleted, moved, mig, elsewhere, busy, a, b)


def unshelving(cell: Any, instance: str) -> None:
    """``instance`` being unshelved: on no host, in a task, as nova
    records it while the scheduler claims its new host."""
    from nova import objects

    record = objects.Instance.get_by_uuid(cell.ctx, instance)
    record.host = record.node = record.compute_id = None
    record.vm_state, record.task_state = 'shelved_offloaded', 'spawning'
    record.save()


def spec(who: Fleet) -> dict[str, Any]:
    flat = {'DISK_GB': {'total': 1000},
            'MEMORY_MB': {'total': 16384, 'reserved': 512},
            'VCPU': {'total': 8, 'allocation_ratio': 4.0}}
    return {'nodes': {
        who.a: {'inventory': flat, 'consumers': {
            who.live: {'resources': FLOATING},
            who.deleted: {'resources': FLOATING},
            who.mig: {'resources': FLOATING, 'type': 'MIGRATION'}}},
        who.b: {'inventory': flat, 'consumers': {
            who.moved: {'resources': FLOATING},
            who.elsewhere: {'resources': FLOATING}}}}}


def before(adapter: Any, who: Fleet) -> dict[str, str]:
    """The flat nodes, the neutron and the sharing provider, and
    ``deleted``'s DISK_GB and bandwidth on them; node name -> uuid."""
    from tests.nova_db import placement_io

    roots = placement_io.seed_spec(adapter, spec(who))
    root = roots[who.a]
    seed.call(adapter, 'POST', '/resource_providers', {
        'name': who.neutron_name, 'uuid': who.neutron,
        'parent_provider_uuid': root}, mv='1.20')
    seed.call(adapter, 'PUT',
              f'/resource_providers/{who.neutron}/inventories',
              {'resource_provider_generation': 0,
               'inventories': {BW: {'total': 10000}}})
    seed.call(adapter, 'POST', '/resource_providers',
              {'name': who.share_name, 'uuid': who.share}, mv='1.20')
    seed.call(adapter, 'PUT', f'/resource_providers/{who.share}/inventories',
              {'resource_provider_generation': 0,
               'inventories': {'DISK_GB': {'total': 1000}}})
    record = seed.call(adapter, 'GET', f'/allocations/{who.deleted}')
    seed.allocate(adapter, who.deleted, {
        root: {'VCPU': 1, 'MEMORY_MB': 512}, who.share: {'DISK_GB': 10},
        who.neutron: {BW: 1000}}, generation=record['consumer_generation'])
    return roots


def after(adapter: Any, who: Fleet, url: str | None) -> None:
    """The consumers written after the pivot, and the stray (written into
    the Placement database ``url``, when given)."""
    names = _names(adapter)
    root = names[who.a]
    numa0, numa1 = names[f'{who.a}_NUMA0'], names[f'{who.a}_NUMA1']
    seed.allocate(adapter, who.unknown, {numa0: {'VCPU': 1,
                                                 'MEMORY_MB': 256},
                                         root: {'DISK_GB': 5}})
    seed.allocate(adapter, who.foreign_only, {who.neutron: {BW: 500}})
    seed.allocate(adapter, who.busy, {numa0: {'VCPU': 1,
                                              'MEMORY_MB': 512}})
    for consumer, extra in ((who.elsewhere, {numa1: {'VCPU': 1,
                                                      'MEMORY_MB': 512}}),
                            (who.moved, {numa1: {'VCPU': 1}})):
        record = seed.call(adapter, 'GET', f'/allocations/{consumer}')
        held = {p: e['resources'] for p, e in record['allocations'].items()}
        seed.allocate(adapter, consumer, {**held, **extra},
                      generation=record['consumer_generation'])
    if url:
        stray(url, root, who.live, 'VCPU', 1)


def stray(url: str, provider: str, consumer: str, rc: str, amount: int
          ) -> None:
    """``consumer`` holding ``amount`` of ``rc`` on ``provider``, which
    has no inventory of it: the state a claim racing a reshape left on
    MariaDB (hazard 4), written as Placement stores allocations."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(
                'INSERT INTO allocations (resource_provider_id, '
                'consumer_id, resource_class_id, used, created_at) SELECT '
                'rp.id, :c, rc.id, :n, :t FROM resource_providers rp, '
                'resource_classes rc WHERE rp.uuid = :p AND rc.name = :rc'),
                {'c': consumer, 'n': amount, 'p': provider, 'rc': rc,
                 't': datetime.datetime.now(datetime.UTC).replace(
                     tzinfo=None)})
    finally:
        engine.dispose()


def _names(adapter: Any) -> dict[str, str]:
    listing = seed.call(adapter, 'GET', '/resource_providers')
    return {p['name']: p['uuid'] for p in listing['resource_providers']}


def api(url: str, cell_url: str, booting: list[str]) -> None:
    """nova's API database at ``url`` mapping the cell ``cell_url``, with
    an instance mapping (no cell yet) of each of ``booting``."""
    from nova import conf
    from nova import context as nova_context
    from nova import objects

    from tests.nova_db import cells

    cells.api_database(url, {'cell1': cell_url})
    # Made in a process of its own: this one's writes go through nova's
    # API engine configured here.
    conf.CONF.set_override('connection', url, group='api_database')
    cells.api_db.configure(conf.CONF)
    ctx = nova_context.get_admin_context()
    for uuid in booting:
        objects.InstanceMapping(ctx, instance_uuid=uuid, cell_mapping=None,
                                project_id='project', user_id='user'
                                ).create()


def main(stage: str, url: str, *rest: str) -> None:
    if stage == 'api':
        api(url, rest[0], json.load(sys.stdin))
        json.dump({}, sys.stdout)
        return
    who = Fleet(**json.load(sys.stdin))
    conf = harness.configure_database(url)
    with harness.direct_placement(conf) as adapter:
        if stage == 'before':
            json.dump(before(adapter, who), sys.stdout)
        else:
            after(adapter, who, url)
            json.dump({}, sys.stdout)


if __name__ == '__main__':
    main(*sys.argv[1:])
