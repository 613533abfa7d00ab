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

"""A copy of the session's nova template (:mod:`tests.nova_db.templates`)
is the database nova's migrations make, on every backend and of each kind,
and every test writes its own copy."""

from __future__ import annotations

import os
from typing import Any

import pytest
import sqlalchemy

from tests.nova_db import cells as nova
from tests.nova_db import templates


def describe(connection: str) -> dict[str, Any]:
    """All of the database ``connection`` a copy must have as nova's
    migrations made it: every table's columns, keys, indexes and
    constraints, and its rows; SQLite's schema text, PostgreSQL's
    sequences, MariaDB's ``SHOW CREATE TABLE`` and default character
    set."""
    url = sqlalchemy.make_url(connection)
    backend = url.get_backend_name()
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            seen = sqlalchemy.inspect(conn)
            found: dict[str, Any] = {
                'views': sorted(seen.get_view_names()), 'tables': {}}
            for table in sorted(seen.get_table_names()):
                found['tables'][table] = {
                    'columns': [
                        (c['name'], str(c['type']), c['nullable'],
                         c.get('default'), c.get('autoincrement'))
                        for c in seen.get_columns(table)],
                    'primary key': seen.get_pk_constraint(table),
                    'indexes': sorted(map(repr, seen.get_indexes(table))),
                    'unique': sorted(map(repr, seen.get_unique_constraints(
                        table))),
                    'foreign keys': sorted(map(repr, seen.get_foreign_keys(
                        table))),
                    'checks': sorted(map(repr, seen.get_check_constraints(
                        table))),
                    'rows': sorted(map(repr, conn.execute(sqlalchemy.text(
                        f'SELECT * FROM {table}')))),
                }
            if backend == 'sqlite':
                found['schema'] = sorted(conn.exec_driver_sql(
                    'SELECT type, name, tbl_name, sql FROM sqlite_master'
                ).all())
            elif backend == 'postgresql':
                found['sequences'] = sorted(seen.get_sequence_names())
            else:
                found['charset'] = tuple(conn.execute(sqlalchemy.text(
                    'SELECT DEFAULT_CHARACTER_SET_NAME, '
                    'DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA'
                    ' WHERE SCHEMA_NAME = :s'), {'s': url.database}).one())
                found['create'] = {
                    table: _definition(conn.exec_driver_sql(
                        f'SHOW CREATE TABLE `{table}`').one()[1])
                    for table in found['tables']}
    finally:
        engine.dispose()
    return found


def _definition(create: str) -> tuple[list[str], list[str]]:
    """A MariaDB ``SHOW CREATE TABLE``: its lines, but its keys and
    constraints as a set (two runs of nova's migrations make a table's
    indexes in orders of their own: Python's hash seed orders them)."""
    lines, keys = [], []
    for line in create.splitlines():
        bare = line.strip().rstrip(',')
        if bare.split(' ', 1)[0] in ('KEY', 'UNIQUE', 'CONSTRAINT'):
            keys.append(bare)
        else:
            lines.append(bare)
    return lines, sorted(keys)


def head(kind: str) -> str:
    """The head of nova's migrations of ``kind``."""
    from alembic import config
    from alembic import script
    from nova.db import migration

    ini = os.path.join(os.path.dirname(migration.__file__), kind,
                       'alembic.ini')
    found = script.ScriptDirectory.from_config(
        config.Config(ini)).get_current_head()
    assert found
    return found


@pytest.mark.parametrize('kind', templates.KINDS)
def test_a_copy_of_the_template_is_a_migrated_database(databases, kind):
    """Fails when a nova database copied from the session's template
    differs in anything from one nova's migrations made (a table, a
    column, an index, a key, a constraint, a row, the alembic version at
    nova's head, MariaDB's table definitions and default character set),
    or when it was not copied at all."""
    migrated, copied = databases('migrated'), databases('copied')
    templates.migrate(migrated, kind)  # nova's migrations, on this one
    template = templates.fresh(copied, kind)
    assert template is not None and template != copied
    copy = describe(copied)
    assert copy['tables']['alembic_version']['rows'] == [
        repr((head(kind),))]
    assert copy == describe(migrated)


def test_each_cell_writes_a_copy_of_its_own(databases):
    """Fails when a cell's rows go to the template, or to another cell's
    copy (nova caches an engine per cell database)."""
    first = nova.NovaCell(databases('first'))
    second = nova.NovaCell(databases('second'))
    first.node('n-1', [(4, 0, 4096)])
    second.node('n-2', [(4, 0, 4096)])
    second.node('n-3', [(4, 0, 4096)])
    template = templates.fresh(databases('third'), 'main')
    assert template is not None

    def names(connection: str) -> list[str]:
        engine = sqlalchemy.create_engine(connection)
        try:
            with engine.connect() as conn:
                return sorted(conn.execute(sqlalchemy.text(
                    'SELECT hypervisor_hostname FROM compute_nodes'
                )).scalars())
        finally:
            engine.dispose()  # none left on the template

    assert names(first.connection) == ['n-1']
    assert names(second.connection) == ['n-2', 'n-3']
    assert names(template) == []
