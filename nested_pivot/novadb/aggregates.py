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

"""nova's host aggregates by name, from its API database.

Placement knows aggregates by uuid only; nova mirrors each host aggregate
onto its hosts' root providers under the same uuid.  A name is nova's: it
is looked up with nova's own objects, through ``[api_database]``, as
``nova-manage`` reads it.
"""

from __future__ import annotations

from collections.abc import Sequence

from nested_pivot import exception
from nested_pivot.novadb import reader


def by_name(config_files: Sequence[str]) -> dict[str, str]:
    """Every host aggregate of nova's API database: name -> uuid.

    :raises NovaFactsError: nova is not installed, the configuration has
        no ``[api_database] connection``, or the database cannot be read.
    """
    nova = reader._Nova.load()
    conf = nova.configure(config_files)
    connection = conf.api_database.connection
    if not connection:
        raise exception.NovaFactsError(
            reason='an aggregate named by its name is looked up in nova\'s '
                   'API database: give a --config-file with [api_database] '
                   'connection, or the aggregate\'s uuid')
    if connection not in reader._API_CONFIGURED:
        nova.api_db.configure(conf)
        reader._API_CONFIGURED.append(connection)
    ctx = nova.context.get_admin_context()
    with reader._reading(None, connection):
        found = nova.objects.AggregateList.get_all(ctx)
    return {str(a.name): str(a.uuid) for a in found}
