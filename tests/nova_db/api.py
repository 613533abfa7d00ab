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

"""nova's API database, in a process of its own (nova configures one API
database per process): its schema by nova's migrations, cell0 and the
cells, and host aggregates, written through nova's objects::

    python -m tests.nova_db.api URL < spec.json > cells.json

A spec: ``{"cells": {name: cell database URL}, "hosts": {cell name:
[host]}, "aggregates": {name: uuid}}``; the output: ``{name: cell
uuid}``.  The database's schema is already at head
(:func:`tests.nova_db.cells.api_database` copies it from the session's
template); nova's migrations bring it there::

    python -m tests.nova_db.api --migrate URL
"""

from __future__ import annotations

import json
import sys

from tests.nova_db import cells as nova


def main(connection: str) -> None:
    spec = json.load(sys.stdin)
    nova.make_api_database(connection, spec['cells'], spec.get('hosts'))
    # An aggregate's creation is notified: to nowhere, as in nova's tests.
    from nova import conf
    from nova import rpc

    # make_api_database() leaves nova's API engine as it found it: this
    # process's own writes go through one configured here.
    conf.CONF.set_override('connection', connection, group='api_database')
    nova.api_db.configure(conf.CONF)
    conf.CONF.set_override('transport_url', 'fake:/')
    rpc.init(conf.CONF)  # no notification driver: notifications dropped
    ctx = nova.nova_context.get_admin_context()
    for name, uuid in spec.get('aggregates', {}).items():
        nova.objects.Aggregate(ctx, name=name, uuid=uuid).create()
    json.dump({c.name: c.uuid
               for c in nova.objects.CellMappingList.get_all(ctx)},
              sys.stdout)


def migrate(connection: str) -> None:
    """nova's API migrations on ``connection``."""
    from nova.db import migration

    with nova.api_engine(connection):
        migration.db_sync(database='api')


if __name__ == '__main__':
    if sys.argv[1] == '--migrate':
        migrate(sys.argv[2])
    else:
        main(sys.argv[1])
