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
line (:func:`nested_pivot.dburl.mask`, :class:`MaskingFilter`).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
import contextlib
import dataclasses
import logging
import re
import sys
import time
from typing import Any
from typing import TextIO
from typing import TYPE_CHECKING

from oslo_config import cfg

from nested_pivot import dburl
from nested_pivot import exception
from nested_pivot import microversion
from nested_pivot.placement import PlacementClient

if TYPE_CHECKING:
    from nested_pivot.placement.database import PlacementDatabase

# Offline there is no keystone: noauth2 with these roles passes every
# policy, the reshaper's included.
OFFLINE_HEADERS = {'X-Auth-Token': 'admin', 'X-Roles': 'admin,service'}

# The Python module a database URL's driver imports, and the package that
# provides it.
DRIVERS = {'pymysql': 'PyMySQL', 'psycopg2': 'psycopg2-binary',
           'psycopg': 'psycopg[binary]', 'MySQLdb': 'mysqlclient'}

AccessError = exception.AccessError


mask = dburl.mask


class MaskingFilter(logging.Filter):
    """Masks passwords in URLs of every log record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask(record.getMessage())
        record.args = None
        return True


DEFAULT_WAIT = 10.0
"""How long the CLI waits for an unreachable --placement-db, in seconds
(oslo.db's own default is 10 retries 10 s apart)."""


@contextlib.contextmanager
def client(config_files: Sequence[str], placement_db: str | None,
           wait: float = DEFAULT_WAIT, stream: TextIO | None = None
           ) -> Iterator[PlacementClient]:
    """A client for the command's lifetime.  Offline, the database is
    waited for up to ``wait`` seconds, saying so on ``stream`` when it is
    a terminal."""
    if placement_db:
        dburl.remember(placement_db)
        with _offline(placement_db, config_files,
                      _Waiting(placement_db, wait, stream)) as found:
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


@dataclasses.dataclass
class _Waiting:
    """Waiting for the Placement database to answer."""

    connection: str
    seconds: float
    stream: TextIO | None

    def __post_init__(self) -> None:
        self.deadline: float | None = None

    def again(self, err: BaseException) -> bool:
        """After a failed connection: wait a second and try again, or
        give up when the time is up (counted from the first failure)."""
        if self.deadline is None:
            self.deadline = time.monotonic() + self.seconds
        left = self.deadline - time.monotonic()
        if left <= 0:
            return False
        if self.stream is not None and self.stream.isatty():
            self.stream.write(
                f'\r\033[KWaiting for the placement database '
                f'{_where(self.connection)}: {_first_line(err)} '
                f'({left:.0f} s left; --placement-db-wait SECONDS)')
            self.stream.flush()
        time.sleep(min(1.0, left))
        return True

    def done(self) -> None:
        if self.stream is not None and self.stream.isatty():
            self.stream.write('\r\033[K')
            self.stream.flush()


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
def _offline(connection: str, config_files: Sequence[str],
             waiting: _Waiting) -> Iterator[PlacementClient]:
    problem = dburl.problem(connection)
    if problem:
        raise AccessError(reason=f'--placement-db {mask(connection)}: '
                                 f'{problem}')
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
        # One connection attempt per use: the CLI waits itself, for
        # --placement-db-wait, and says what it waits for.
        conf.set_override('max_retries', 1, group='placement_database')
        conf.set_override('retry_interval', 0, group='placement_database')
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
        _probe(client, connection, waiting)
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
    built: list[Any] = []

    def app() -> Any:
        # Built at the first request, which _probe() makes: loading the
        # app reaches the database, and a database that does not answer
        # yet is waited for there.
        if not built:
            built.append(deploy.loadapp(conf))
        return built[0]

    direct.app = app
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


def _probe(client: PlacementClient, connection: str,
           waiting: _Waiting) -> None:
    """One read that reaches the database, so that a database that cannot
    be used says so here, in one line, not halfway through a command.  A
    database that does not answer is tried again until ``waiting`` runs
    out."""
    while True:
        try:
            client.get('/resource_classes', microversion.RESHAPER)
        except Exception as err:
            if _unreachable(err) and waiting.again(err):
                continue
            waiting.done()
            error = _database_error(connection, err)
            if _unreachable(err):
                error = AccessError(
                    reason=f'{error.message} (waited {waiting.seconds:g} '
                           f's; --placement-db-wait SECONDS waits longer)')
            raise error from None
        waiting.done()
        return


def _unreachable(err: BaseException | None) -> bool:
    """Is this (or its cause) oslo.db's "cannot connect"?"""
    while err is not None:
        if type(err).__name__ == 'DBConnectionError':
            return True
        err = err.__cause__ or err.__context__
    return False


def _where(connection: str) -> str:
    """The host (and port) of a database URL, else the URL masked."""
    match = re.match(r'^[^:]+://(?:.*@)?(?P<host>[^/?#]*)', connection)
    return match.group('host') if match and match.group('host') \
        else mask(connection)


def _first_line(err: BaseException) -> str:
    return mask(f'{type(err).__name__}: {err}'.splitlines()[0])[:200]


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
