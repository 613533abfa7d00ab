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

"""Fixtures giving tests a real Placement: in process (direct) or HTTP."""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import dataclasses
import os
from pathlib import Path
import subprocess
import sys
import tempfile
from typing import NoReturn

from keystoneauth1 import adapter as ks_adapter
import pytest

try:  # tests/functional as a package, or as rootdir-relative modules
    from .harness import BACKENDS
    from .harness import direct_placement
    from .harness import EVERY_BACKEND_VAR
    from .harness import FaultProxy
    from .harness import http_placement
    from .harness import PRIMARY
except ImportError:
    from harness import BACKENDS  # type: ignore[no-redef]
    from harness import direct_placement  # type: ignore[no-redef]
    from harness import EVERY_BACKEND_VAR  # type: ignore[no-redef]
    from harness import FaultProxy  # type: ignore[no-redef]
    from harness import http_placement  # type: ignore[no-redef]
    from harness import PRIMARY  # type: ignore[no-redef]

SERVER_SCRIPT = (
    Path(__file__).resolve().parents[2] / 'tools' / 'placement-server'
)
URL_VAR = 'NESTED_PIVOT_PLACEMENT_URL'
DB_VAR = 'NESTED_PIVOT_PLACEMENT_DB'


@dataclasses.dataclass(frozen=True)
class Server:
    """A real Placement server: its API, and its database as a SQLAlchemy
    URL (``None`` when not told) whose user may create more databases."""

    backend: str
    url: str
    db: str | None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        'markers', 'every_backend(reason): a hazard of the database, run '
        f'on each real backend, not only on {PRIMARY}')


def pytest_collection_modifyitems(config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """Deselect the runs of a backend-independent test on the real
    backends other than :data:`~harness.PRIMARY`."""
    if os.environ.get(EVERY_BACKEND_VAR):
        return
    elsewhere = [item for item in items if _elsewhere(item)]
    if elsewhere:
        config.hook.pytest_deselected(items=elsewhere)
        dropped = {id(item) for item in elsewhere}
        items[:] = [item for item in items if id(item) not in dropped]


def _elsewhere(item: pytest.Item) -> bool:
    callspec = getattr(item, 'callspec', None)
    here = Path(__file__).parent
    if callspec is None or here not in item.path.parents:
        return False
    others = set(BACKENDS) - {PRIMARY}
    if not others & set(callspec.id.split('-')):
        return False
    mark = item.get_closest_marker('every_backend')
    if mark is None:
        return True
    if not mark.args or not str(mark.args[0]).strip():
        raise pytest.UsageError(
            f'{item.nodeid}: every_backend needs the reason the test '
            'depends on the database')
    return False


@pytest.fixture
def direct() -> Iterator[ks_adapter.Adapter]:
    """Adapter onto in-process Placement over this process's SQLite DB.

    Per test: PlacementDirect patches keystoneauth's endpoint lookup for
    the whole process while active, which would send other tests' clients
    (e.g. ``auth_type = admin_token``) to the in-process service.
    """
    with direct_placement() as client:
        yield client


def _cannot_start(reason: str) -> NoReturn:
    if os.environ.get('CI'):
        pytest.fail(
            'real Placement server could not start (CI is set, so this'
            f' fails instead of skipping): {reason}'
        )
    pytest.skip(f'real Placement server could not start: {reason}')


def _server(args: list[str], env: dict[str, str], timeout: float) -> str:
    """Run tools/placement-server ARGS; raise RuntimeError with its output.

    Output goes to a file, not a pipe: the daemons it leaves running must
    not hold our end open.
    """
    with tempfile.TemporaryFile('w+') as out:
        try:
            rc = subprocess.call(
                ['bash', str(SERVER_SCRIPT), *args],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            rc, text = -1, str(exc)
        else:
            out.seek(0)
            text = out.read()
    if rc != 0:
        tail = '\n'.join(text.splitlines()[-40:])
        raise RuntimeError(
            f'{SERVER_SCRIPT} {" ".join(args)} exited {rc}:\n{tail}'
        )
    return text


class Servers:
    """One real server per backend for the session, found on first use.

    ``$NESTED_PIVOT_PLACEMENT_URL_<BACKEND>`` (and ``_DB_<BACKEND>``), as
    ``tools/placement-server run --db all`` exports them; for PostgreSQL
    also the older ``$NESTED_PIVOT_PLACEMENT_URL``. Otherwise the server is
    started here, and stopped by :meth:`close`. A server that could not
    start is not tried again.
    """

    def __init__(self) -> None:
        self._servers: dict[str, Server] = {}
        self._failed: dict[str, str] = {}
        self._started: list[dict[str, str]] = []

    def get(self, backend: str) -> Server:
        if backend not in self._servers:
            if backend in self._failed:
                _cannot_start(self._failed[backend])
            try:
                self._servers[backend] = (
                    self._from_env(backend) or self._start(backend)
                )
            except RuntimeError as exc:
                self._failed[backend] = str(exc)
                _cannot_start(str(exc))
        return self._servers[backend]

    @staticmethod
    def _from_env(backend: str) -> Server | None:
        suffix = '_' + backend.upper()
        url = os.environ.get(URL_VAR + suffix)
        if not url and backend == 'postgresql':
            url = os.environ.get(URL_VAR)
        if not url:
            return None
        db = os.environ.get(DB_VAR + suffix) or None
        return Server(backend, url.rstrip('/'), db)

    def _start(self, backend: str) -> Server:
        state = tempfile.mkdtemp(prefix=f'nested-pivot-{backend}-')
        env = dict(os.environ, NP_PLACEMENT_STATE=state, PYTHON=sys.executable)
        env['PATH'] = os.pathsep.join(
            [os.path.dirname(sys.executable), env.get('PATH', '')]
        )
        try:
            text = _server(['start', '--db', backend], env, timeout=300)
        except RuntimeError:
            with contextlib.suppress(RuntimeError):
                _server(['stop'], env, timeout=120)
            raise
        self._started.append(env)
        found = dict(
            line.split('=', 1)
            for line in text.splitlines()
            if line.startswith('NESTED_PIVOT_') and '=' in line
        )
        suffix = '_' + backend.upper()
        if URL_VAR + suffix not in found:
            raise RuntimeError(f'no {URL_VAR}{suffix}= line in:\n{text}')
        return Server(
            backend, found[URL_VAR + suffix], found.get(DB_VAR + suffix)
        )

    def close(self) -> None:
        while self._started:
            _server(['stop'], self._started.pop(), timeout=120)


@pytest.fixture(scope='session')
def placement_servers() -> Iterator[Servers]:
    """The real servers of the session, by backend (``.get(backend)``)."""
    servers = Servers()
    try:
        yield servers
    finally:
        servers.close()


# Per test, not per session: a session-scoped parametrized fixture would
# make pytest regroup the whole session by backend, tearing down and again
# setting up module fixtures (test_cli's seeded fleets). The servers
# themselves are the session's, started once each.
@pytest.fixture(params=BACKENDS)
def real_server(
    request: pytest.FixtureRequest, placement_servers: Servers
) -> Server:
    """The same test on a real server on each backend."""
    return placement_servers.get(request.param)


@pytest.fixture
def real_server_url(real_server: Server) -> str:
    return real_server.url


@pytest.fixture
def http(real_server: Server) -> ks_adapter.Adapter:
    """Adapter onto the real server, as admin with the service role."""
    return http_placement(real_server.url)


@pytest.fixture(params=['direct', *(f'http-{b}' for b in BACKENDS)])
def placement(
    request: pytest.FixtureRequest, placement_servers: Servers
) -> ks_adapter.Adapter:
    """The same test in process (SQLite) and on each real server."""
    if request.param == 'direct':
        client: ks_adapter.Adapter = request.getfixturevalue('direct')
        return client
    backend = request.param.split('-', 1)[1]
    return http_placement(placement_servers.get(backend).url)


@pytest.fixture
def fault_proxy(real_server_url: str) -> Iterator[FaultProxy]:
    """A FaultProxy in front of the real server; point clients at ``.url``."""
    with FaultProxy(real_server_url) as proxy:
        yield proxy
