"""How the CLI reaches Placement: online with nova.conf's credentials, or
offline over the Placement database with ``placement.direct``."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
import contextlib

from oslo_config import cfg

from nested_pivot import exception
from nested_pivot.placement import PlacementClient

# Offline there is no keystone: noauth2 with these roles passes every
# policy, the reshaper's included.
OFFLINE_HEADERS = {'X-Auth-Token': 'admin', 'X-Roles': 'admin,service'}


class AccessError(exception.PivotError):
    msg_fmt = '%(reason)s'


@contextlib.contextmanager
def client(config_files: Sequence[str], placement_db: str | None
           ) -> Iterator[PlacementClient]:
    """A client for the command's lifetime."""
    if placement_db:
        with _offline(placement_db, config_files) as found:
            yield found
    else:
        yield PlacementClient.from_conf(_conf(config_files))


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
        raise AccessError(reason=f'bad configuration: {err}') from None
    return conf


@contextlib.contextmanager
def _offline(connection: str, config_files: Sequence[str]
             ) -> Iterator[PlacementClient]:
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

    conf = _conf(config_files, register)
    try:
        db_api.configure(conf)
        direct = PlacementDirect(conf)
        adapter = direct.__enter__()
    except Exception as err:
        raise AccessError(
            reason=f'cannot use the placement database {connection!r}: '
                   f'{type(err).__name__}: {err}'.splitlines()[0]
        ) from None
    try:
        # In process, threads buy nothing: one request at a time.
        yield PlacementClient(adapter, headers=OFFLINE_HEADERS,
                              max_concurrency=1)
    finally:
        direct.__exit__(None, None, None)
