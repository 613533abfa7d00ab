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

"""nova's migrations once per test session: on each backend a template
database of each kind (a cell's ``main``, the ``api``), brought to head by
nova's migrations on first use, and every test's database a copy of it.

- SQLite: the template's file copied;
- PostgreSQL: ``CREATE DATABASE copy TEMPLATE template``, which refuses a
  template anyone is connected to: a template is migrated through an
  engine of its own, disposed after (the API database's in a process of
  its own), never through one nova's cell cache keeps;
- MariaDB, which has no template databases: the template's tables made
  again from its ``SHOW CREATE TABLE`` (foreign keys and all, foreign key
  checks off), the rows of every table the migrations filled
  (``alembic_version``) copied, and the database's default character set,
  which nova's main migration sets, set alike.  A template with views,
  triggers, routines or events is refused: this copy would leave them
  out.

The templates of a session are listed in the directory
``$NESTED_PIVOT_NOVA_TEMPLATES`` names (``tests/nova_db/conftest.py``
makes one per session, and :func:`drop` drops the server templates
after); the processes the tests start inherit it.  Without it, nova's
migrations run on each database, as in any other use of these helpers.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import fcntl
import hashlib
import json
import os
from pathlib import Path
import shutil
import subprocess
import sys
from typing import Any
import uuid as uuidlib

import sqlalchemy

ENV = 'NESTED_PIVOT_NOVA_TEMPLATES'
KINDS = ('main', 'api')
_SERVERS = 'server-templates'  # the URLs of the server templates made


def fresh(connection: str, kind: str) -> str | None:
    """Bring the database ``connection``, made empty, to the head of
    nova's ``kind`` database (``main`` or ``api``): a copy of this
    session's template, whose URL is returned; ``None`` when nova's
    migrations ran on ``connection`` itself (no session's templates, or
    a database that is not empty)."""
    if kind not in KINDS:
        raise ValueError(f'no nova database of kind {kind}')
    where = os.environ.get(ENV)
    if not where or not _empty(connection):
        migrate(connection, kind)
        return None
    template = _template(Path(where), connection, kind)
    _copy(template, connection)
    url: str = template['url']
    return url


def migrate(connection: str, kind: str) -> None:
    """nova's own migrations of ``kind`` on ``connection``; no connection
    to it is left open after."""
    if kind == 'main':
        _migrate_main(connection)
        return
    proc = subprocess.run(
        [sys.executable, '-m', 'tests.nova_db.api', '--migrate',
         connection], text=True, capture_output=True, timeout=600,
        check=False, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr[-3000:]


def _migrate_main(connection: str) -> None:
    from nova import context as nova_context
    from nova.db import migration as nova_migration
    from nova.db.main import api as main_db

    ctx = nova_context.get_admin_context()
    # An engine of its own, out of nova's cell cache (which would keep it
    # open), disposed after.
    ctx.db_connection = main_db.create_context_manager(connection)
    try:
        nova_migration.db_sync(database='main', context=ctx)
    finally:
        ctx.db_connection.dispose_pool()


def drop(where: Path) -> None:
    """Drop the server templates listed under ``where``."""
    from tests.functional import harness

    listed = where / _SERVERS
    if listed.exists():
        for url in listed.read_text().split():
            harness.drop_database(url)
        listed.unlink()


@contextlib.contextmanager
def _engine(connection: str | sqlalchemy.URL,
            **kw: Any) -> Iterator[sqlalchemy.Engine]:
    engine = sqlalchemy.create_engine(connection, **kw)
    try:
        yield engine
    finally:
        engine.dispose()


def _admin(url: sqlalchemy.URL) -> sqlalchemy.URL:
    """The server's own database of ``url``'s, to create and drop
    databases through."""
    if url.get_backend_name() == 'postgresql':
        return url.set(database='postgres')
    return url._replace(database=None)  # set() takes None for unchanged


def _empty(connection: str) -> bool:
    url = sqlalchemy.make_url(connection)
    if url.get_backend_name() == 'sqlite':
        path = url.database
        if not path or path == ':memory:':
            return False
        return not os.path.exists(path) or os.path.getsize(path) == 0
    with _engine(url) as engine, engine.connect() as conn:
        return not sqlalchemy.inspect(conn).get_table_names()


def _template(where: Path, connection: str, kind: str) -> dict[str, Any]:
    """This session's template of ``kind`` on ``connection``'s server,
    migrated when first asked for."""
    url = sqlalchemy.make_url(connection)
    backend = url.get_backend_name()
    server = f'{url.drivername}://{url.username}@{url.host}:{url.port}'
    digest = hashlib.sha1(server.encode()).hexdigest()[:12]
    record = where / f'{backend}-{digest}-{kind}.json'
    with open(where / '.lock', 'a') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one maker, in any process
        if record.exists():
            found: dict[str, Any] = json.loads(record.read_text())
            return found
        name = f'np_template_{kind}_{uuidlib.uuid4().hex[:10]}'
        if backend == 'sqlite':
            template = f'sqlite:///{where}/{name}.db'
        else:
            template = url.set(database=name).render_as_string(
                hide_password=False)
            with _engine(_admin(url), isolation_level='AUTOCOMMIT') as e, \
                    e.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE {name}')
            with open(where / _SERVERS, 'a') as listed:
                listed.write(template + '\n')
        migrate(template, kind)
        made: dict[str, Any] = {'url': template}
        if backend == 'mysql':
            made['mysql'] = _mysql_schema(template)
        partial = record.with_suffix('.partial')
        partial.write_text(json.dumps(made))
        partial.rename(record)
        return made


def _mysql_schema(template: str) -> dict[str, Any]:
    """What a copy of the MariaDB database ``template`` is made from: its
    default character set and collation, each table's ``SHOW CREATE
    TABLE``, the tables with rows."""
    name = sqlalchemy.make_url(template).database
    with _engine(template) as engine, engine.connect() as conn:
        charset, collation = conn.execute(sqlalchemy.text(
            'SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME '
            'FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = :s'),
            {'s': name}).one()
        for what, column in (('TRIGGERS', 'TRIGGER_SCHEMA'),
                             ('ROUTINES', 'ROUTINE_SCHEMA'),
                             ('EVENTS', 'EVENT_SCHEMA')):
            count = conn.execute(sqlalchemy.text(
                f'SELECT COUNT(*) FROM information_schema.{what} '
                f'WHERE {column} = :s'), {'s': name}).scalar()
            if count:
                raise RuntimeError(f'{template} has {what.lower()}: a '
                                   'copy of its tables would lack them')
        tables: dict[str, str] = {}
        rows = []
        for table, kind in conn.exec_driver_sql('SHOW FULL TABLES'):
            if kind != 'BASE TABLE':
                raise RuntimeError(f'{template}: {table} is a {kind}: a '
                                   'copy of its tables would lack it')
            tables[table] = conn.exec_driver_sql(
                f'SHOW CREATE TABLE `{table}`').one()[1]
            if conn.exec_driver_sql(
                    f'SELECT 1 FROM `{table}` LIMIT 1').first():
                rows.append(table)
    return {'charset': charset, 'collation': collation, 'tables': tables,
            'rows': rows}


def _copy(template: dict[str, Any], connection: str) -> None:
    source = sqlalchemy.make_url(template['url'])
    url = sqlalchemy.make_url(connection)
    backend = url.get_backend_name()
    if backend == 'sqlite':
        assert source.database and url.database
        shutil.copyfile(source.database, url.database)
    elif backend == 'postgresql':
        with _engine(_admin(url), isolation_level='AUTOCOMMIT') as engine, \
                engine.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE {url.database}')
            conn.exec_driver_sql(f'CREATE DATABASE {url.database} '
                                 f'TEMPLATE {source.database}')
    elif backend == 'mysql':
        schema = template['mysql']
        with _engine(url) as engine:
            raw = engine.raw_connection()  # DDL as it is: no % escapes
            try:
                cursor = raw.cursor()
                cursor.execute(
                    f'ALTER DATABASE `{url.database}` CHARACTER SET '
                    f'{schema["charset"]} COLLATE {schema["collation"]}')
                cursor.execute('SET FOREIGN_KEY_CHECKS = 0')
                for ddl in schema['tables'].values():
                    cursor.execute(ddl)
                for table in schema['rows']:
                    cursor.execute(
                        f'INSERT INTO `{table}` SELECT * FROM '
                        f'`{source.database}`.`{table}`')
                raw.commit()
            finally:
                raw.close()
    else:
        raise ValueError(f'no template copy on {backend}')
