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

"""How the CLI reaches Placement: online with nova.conf's credentials, or
offline over the Placement database with ``placement.direct``.

A database URL carries a password: it is masked in every message and log
line (:func:`mask`, :class:`MaskingFilter`).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
import contextlib
import logging
from pathlib import Path
import re
import sys
from typing import Any
from typing import TYPE_CHECKING

from oslo_config import cfg

from nested_pivot import exception
from nested_pivot.placement import PlacementClient

if TYPE_CHECKING:
    from nested_pivot.placement.database import PlacementDatabase

# Offline there is no keystone: noauth2 with these roles passes every
# policy, the reshaper's included.
OFFLINE_HEADERS = {'X-Auth-Token': 'admin', 'X-Roles': 'admin,service'}

_CREDENTIALS = re.compile(r'(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://'
                          r'[^:/@\s]*):[^@\s]*@')

# The Python module a database URL's driver imports, and the package that
# provides it.
DRIVERS = {'pymysql': 'PyMySQL', 'psycopg2': 'psycopg2-binary',
           'psycopg': 'psycopg[binary]', 'MySQLdb': 'mysqlclient'}

AccessError = exception.AccessError


def mask(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ***."""
    return _CREDENTIALS.sub(r'\g<scheme>:***@', text)


class MaskingFilter(logging.Filter):
    """Masks passwords in URLs of every log record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask(record.getMessage())
        record.args = None
        return True


@contextlib.contextmanager
def client(config_files: Sequence[str], placement_db: str | None
           ) -> Iterator[PlacementClient]:
    """A client for the command's lifetime."""
    if placement_db:
        with _offline(placement_db, config_files) as found:
            yield found
        return
    if not config_files:
        raise AccessError(
            reason='say how to reach Placement: --config-file FILE '
                   '(online, with a [placement] section as in nova.conf) '
                   'or --placement-db CONNECTION (offline)')
    conf = _conf(config_files)
    _check_online(conf, config_files)
    yield PlacementClient.from_conf(conf)


def reaches_placement(config_files: Sequence[str],
                      placement_db: str | None) -> bool:
    """Do these options say how to reach Placement?"""
    if placement_db:
        return True
    if not config_files:
        return False
    from nested_pivot import conf as np_conf

    conf = _conf(config_files, np_conf.register_opts)
    return bool(conf.placement.auth_type or conf.placement.endpoint_override)


def _check_online(conf: cfg.ConfigOpts, config_files: Sequence[str]) -> None:
    from nested_pivot import conf as np_conf

    np_conf.register_opts(conf)
    if not (conf.placement.auth_type or conf.placement.endpoint_override):
        raise AccessError(
            reason=f'no [placement] credentials in '
                   f'{", ".join(config_files)}: set auth_type and its '
                   'options (as in nova.conf), or use --placement-db '
                   'offline')


def _conf(config_files: Sequence[str],
          register: Callable[[cfg.ConfigOpts], None] | None = None
          ) -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    if register is not None:
        register(conf)  # before parsing: some options are CLI options
    args = [a for f in config_files for a in ('--config-file', f)]
    try:
        conf(args, project='nested_pivot', default_config_files=[],
             default_config_dirs=[])
    except cfg.Error as err:
        raise AccessError(reason=f'bad configuration: {mask(str(err))}'
                          ) from None
    return conf


@contextlib.contextmanager
def _offline(connection: str, config_files: Sequence[str]
             ) -> Iterator[PlacementClient]:
    _check_sqlite(connection)
    try:
        from placement import conf as placement_conf
        from placement import db_api
        from placement.direct import PlacementDirect
    except ImportError:
        raise AccessError(
            reason='--placement-db needs openstack-placement: install '
                   'nested_pivot[offline]') from None

    def register(conf: cfg.ConfigOpts) -> None:
        placement_conf.register_opts(conf)
        conf.set_override('connection', connection,
                          group='placement_database')
        # A reshape replaces allocations in the transaction that already
        # changed its providers' inventories: Placement's retry of a
        # generation conflict there reloads generations the transaction
        # itself changed, and cannot succeed.  One try; the conflict goes
        # back to the pivot, which reads the node again.
        conf.set_override('allocation_conflict_retry_count', 1,
                          group='placement')

    conf = _conf(config_files, register)
    try:
        db_api.configure(conf)
        direct = placement_direct(conf, PlacementDirect)
        adapter = direct.__enter__()
    except Exception as err:
        raise _database_error(connection, err) from None
    try:
        # In process, threads buy nothing: one request at a time.
        client = PlacementClient(adapter, headers=OFFLINE_HEADERS,
                                 max_concurrency=1)
        _probe(client, connection)
        client.database = _database(conf)
        yield client
    finally:
        direct.__exit__(None, None, None)


def placement_direct(conf: cfg.ConfigOpts, base: type | None = None) -> Any:
    """``placement.direct.PlacementDirect`` (or ``base``) serving one
    Placement app, built once: Placement's own builds the app again
    (``deploy.loadapp``) for every connection it intercepts, that is for
    every request."""
    from placement import deploy
    from placement.direct import PlacementDirect

    direct = (base or PlacementDirect)(conf)
    app = deploy.loadapp(conf)
    direct.app = lambda: app
    return direct


def _database(conf: cfg.ConfigOpts) -> PlacementDatabase | None:
    """Placement's database for bulk reads and the reshape, when the
    installed Placement has what they use; otherwise None (its API does
    it all, slower), and a warning that says why."""
    from nested_pivot.placement import contract
    from nested_pivot.placement.database import PlacementDatabase

    found = contract.problems()
    if found:
        print(f'nested-pivot: warning: {contract.summary(found)} Reading '
              'and reshaping through its API instead, which is slower.',
              file=sys.stderr)
        return None
    return PlacementDatabase(conf)


def _probe(client: PlacementClient, connection: str) -> None:
    """One read that reaches the database, so that a database that cannot
    be used says so here, in one line, not halfway through a command."""
    try:
        client.get('/resource_classes')
    except Exception as err:
        raise _database_error(connection, err) from None


def _check_sqlite(connection: str) -> None:
    """A missing SQLite file would be created empty: refuse it first."""
    match = re.match(r'^sqlite(\+\w+)?:///(?P<path>.+)$', connection)
    if not match or match.group('path').startswith(':memory:'):
        return
    path = Path(match.group('path').split('?', 1)[0])
    if not path.is_file():
        raise AccessError(reason=f'--placement-db {connection}: no such '
                                 f'SQLite database file {path}')


def _database_error(connection: str, err: Exception) -> AccessError:
    missing = _missing_module(err)
    if missing:
        package = DRIVERS.get(missing, missing)
        extra = (' (nested_pivot[offline] installs it)'
                 if package == DRIVERS['pymysql'] else '')
        return AccessError(
            reason=f'--placement-db {mask(connection)}: the database '
                   f'driver is not installed: pip install {package!r}'
                   f'{extra}')
    text = f'{type(err).__name__}: {err}'.splitlines()[0]
    return AccessError(reason=f'cannot use the placement database '
                              f'{mask(connection)}: {mask(text)}')


def _missing_module(err: BaseException | None) -> str | None:
    while err is not None:
        if isinstance(err, ModuleNotFoundError) and err.name:
            return err.name.split('.')[0]
        err = err.__cause__ or err.__context__
    return None
