"""Fixtures giving tests a real Placement: in process (direct) or HTTP."""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import os
from pathlib import Path
import subprocess
import sys
import tempfile

from keystoneauth1 import adapter as ks_adapter
import pytest

try:  # tests/functional as a package, or as rootdir-relative modules
    from .harness import direct_placement
    from .harness import FaultProxy
    from .harness import http_placement
except ImportError:
    from harness import direct_placement  # type: ignore[no-redef]
    from harness import FaultProxy  # type: ignore[no-redef]
    from harness import http_placement  # type: ignore[no-redef]

SERVER_SCRIPT = (
    Path(__file__).resolve().parents[2] / 'tools' / 'placement-server'
)
URL_VAR = 'NESTED_PIVOT_PLACEMENT_URL'


@pytest.fixture
def direct() -> Iterator[ks_adapter.Adapter]:
    """Adapter onto in-process Placement over this process's SQLite DB.

    Per test: PlacementDirect patches keystoneauth's endpoint lookup for
    the whole process while active, which would send other tests' clients
    (e.g. ``auth_type = admin_token``) to the in-process service.
    """
    with direct_placement() as client:
        yield client


def _cannot_start(reason: str) -> None:
    if os.environ.get('CI'):
        pytest.fail(
            'real Placement server could not start (CI is set, so this'
            f' fails instead of skipping): {reason}'
        )
    pytest.skip(f'real Placement server could not start: {reason}')


def _server(command: str, env: dict[str, str], timeout: float) -> str:
    """Run tools/placement-server COMMAND; raise RuntimeError with its output.

    Output goes to a file, not a pipe: the daemons it leaves running must
    not hold our end open.
    """
    with tempfile.TemporaryFile('w+') as out:
        try:
            rc = subprocess.call(
                ['bash', str(SERVER_SCRIPT), command],
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
        raise RuntimeError(f'{SERVER_SCRIPT} {command} exited {rc}:\n{tail}')
    return text


@pytest.fixture(scope='session')
def real_server_url() -> Iterator[str]:
    """A real server: $NESTED_PIVOT_PLACEMENT_URL, else one started here."""
    url = os.environ.get(URL_VAR)
    if url:
        yield url.rstrip('/')
        return
    state = tempfile.mkdtemp(prefix='nested-pivot-placement-')
    env = dict(os.environ, NP_PLACEMENT_STATE=state, PYTHON=sys.executable)
    env['PATH'] = os.pathsep.join(
        [os.path.dirname(sys.executable), env.get('PATH', '')]
    )
    try:
        text = _server('start', env, timeout=300)
        urls = [
            line.split('=', 1)[1]
            for line in text.splitlines()
            if line.startswith(URL_VAR + '=')
        ]
        if not urls:
            raise RuntimeError(f'no {URL_VAR}= line in:\n{text}')
    except RuntimeError as exc:
        with contextlib.suppress(RuntimeError):
            _server('stop', env, timeout=120)
        _cannot_start(str(exc))
        return
    try:
        yield urls[-1]
    finally:
        _server('stop', env, timeout=120)


@pytest.fixture(scope='session')
def http(real_server_url: str) -> ks_adapter.Adapter:
    """Adapter onto the real server, as admin with the service role."""
    return http_placement(real_server_url)


@pytest.fixture(params=['direct', 'http'])
def placement(request: pytest.FixtureRequest) -> ks_adapter.Adapter:
    """The same test on both backends."""
    client: ks_adapter.Adapter = request.getfixturevalue(request.param)
    return client


@pytest.fixture
def fault_proxy(real_server_url: str) -> Iterator[FaultProxy]:
    """A FaultProxy in front of the real server; point clients at ``.url``."""
    with FaultProxy(real_server_url) as proxy:
        yield proxy
