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

"""Helpers to reach a real Placement for functional tests (never a mock).

Two backends, both giving a keystoneauth1 ``Adapter`` with ``raise_exc=False``
and no default microversion (pass ``microversion=`` per request):

* ``direct_placement()``: Placement's own ``PlacementDirect`` (in-process WSGI
  app through wsgi-intercept) over a SQLite file.  Placement configures its
  database once per process, so every call in one process shares one database.
* ``http_placement(url)``: a real server, e.g. from ``tools/placement-server``.

``FaultProxy`` is a small real HTTP proxy to put in front of the real server
to inject faults (errors, dropped connections, an older max microversion) and
to count requests.
"""

from __future__ import annotations

import atexit
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
import contextlib
import http.client
import http.server
import json
from pathlib import Path
import shutil
import socket
import tempfile
import threading
import time
from typing import Any
from typing import NamedTuple
import urllib.parse
import uuid

from keystoneauth1 import adapter as ks_adapter
from keystoneauth1 import session as ks_session

#: The databases under the real servers of ``tools/placement-server``.
BACKENDS = ('postgresql', 'mariadb')

#: The real server a scenario that does not depend on the database runs
#: on.  A test marked ``every_backend(reason)`` (a hazard of the database:
#: locking, generations, collation, charset, types, its dialect's SQL)
#: runs on each of :data:`BACKENDS`; so does every test when
#: ``$NESTED_PIVOT_EVERY_BACKEND`` is set.
PRIMARY = 'postgresql'
EVERY_BACKEND_VAR = 'NESTED_PIVOT_EVERY_BACKEND'

#: Headers that make noauth2 treat a request as an admin with the service role.
ADMIN_SERVICE_HEADERS: dict[str, str] = {
    'X-Auth-Token': 'admin',
    'X-Roles': 'admin,service',
}

_DB_LOCK = threading.Lock()
_DB_CONF: Any = None


def configure_database(connection: str) -> Any:
    """Configure Placement's DB layer for this process on ``connection``,
    with its schema at head; the ``ConfigOpts`` for ``PlacementDirect``.

    Placement configures its database once per process: call this once.
    """
    from oslo_config import cfg
    from placement import conf as placement_conf
    from placement import db_api
    from placement.db.sqlalchemy import migration

    conf = cfg.ConfigOpts()
    placement_conf.register_opts(conf)
    conf.set_override('connection', connection, group='placement_database')
    conf.set_override('auth_strategy', 'noauth2', group='api')
    conf([], default_config_files=[], default_config_dirs=[])
    db_api.configure(conf)
    migration.upgrade('head')
    return conf


def _process_database() -> Any:
    """This process's SQLite database, in a temp dir removed at exit."""
    global _DB_CONF
    with _DB_LOCK:
        if _DB_CONF is None:
            tmpdir = tempfile.mkdtemp(prefix='nested-pivot-direct-')
            atexit.register(shutil.rmtree, tmpdir, True)
            _DB_CONF = configure_database(
                f'sqlite:///{tmpdir}/placement.sqlite'
            )
        return _DB_CONF


@contextlib.contextmanager
def server_database(servers: Any, backend: str, prefix: str
                    ) -> Iterator[str]:
    """An empty Placement database ``<prefix>_<random>`` on the real
    ``backend`` server of ``servers`` (the ``placement_servers``
    fixture), dropped after; skips the test without that server's
    database URL."""
    import pytest

    server = servers.get(backend)
    if server.db is None:
        pytest.skip(f'no database URL for the {backend} server')
    url = create_database(server.db, f'{prefix}_{uuid.uuid4().hex[:12]}')
    try:
        yield url
    finally:
        drop_database(url)


def create_database(server_db: str, name: str) -> str:
    """Create database ``name`` on the server of SQLAlchemy URL
    ``server_db`` (PostgreSQL or MySQL/MariaDB); its URL, still empty.

    ``configure_database()`` then brings its schema to head, as
    ``placement-manage db sync`` does.
    """
    import sqlalchemy

    url = sqlalchemy.engine.make_url(server_db)
    engine = sqlalchemy.create_engine(url, isolation_level='AUTOCOMMIT')
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text(f'CREATE DATABASE {name}'))
    finally:
        engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop_database(db: str) -> None:
    """Drop the database of SQLAlchemy URL ``db`` made by
    :func:`create_database`, through the server's own database."""
    import sqlalchemy

    url = sqlalchemy.engine.make_url(db)
    name = url.database
    # Connect to the server's own database, not to the one dropped:
    # ``url.set(database=None)`` would leave the URL as it is.
    admin = url.set(
        database='postgres' if url.get_backend_name() == 'postgresql'
        else 'mysql'
    )
    force = ' WITH (FORCE)' if url.get_backend_name() == 'postgresql' else ''
    engine = sqlalchemy.create_engine(admin, isolation_level='AUTOCOMMIT')
    try:
        with engine.connect() as conn:
            conn.execute(
                sqlalchemy.text(f'DROP DATABASE IF EXISTS {name}{force}')
            )
    finally:
        engine.dispose()


@contextlib.contextmanager
def direct_placement(conf: Any = None) -> Iterator[ks_adapter.Adapter]:
    """Yield an Adapter onto in-process Placement over the process's DB
    (``conf`` from :func:`configure_database`, or a temporary one).

    While active, ``keystoneauth1.session.Session.get_endpoint`` is patched
    process-wide by PlacementDirect (requests to other hosts are unaffected).
    """
    from placement.direct import PlacementDirect

    if conf is None:
        conf = _process_database()
    with PlacementDirect(conf, latest_microversion=False) as client:
        client.session.additional_headers.update(ADMIN_SERVICE_HEADERS)
        yield client


def nova_conf(path: Path, endpoint: str, token: str = 'admin') -> Path:
    """A nova.conf whose [placement] reaches ``endpoint`` with ``token``
    (a noauth2 server takes any; a FaultProxy sets the roles)."""
    path.write_text(f'[placement]\nauth_type = admin_token\n'
                    f'endpoint = {endpoint}\ntoken = {token}\n')
    return path


def http_placement(
    url: str,
    roles: Sequence[str] = ('admin', 'service'),
    timeout: float = 60.0,
) -> ks_adapter.Adapter:
    """An Adapter onto a real noauth2 Placement server at ``url``.

    ``roles`` is sent as ``X-Roles``; leave out ``service`` to be refused
    POST /reshaper (403) as an admin-only token would be.
    """
    headers = {'X-Auth-Token': 'admin', 'X-Roles': ','.join(roles)}
    sess = ks_session.Session(
        auth=None, additional_headers=headers, timeout=timeout
    )
    return ks_adapter.Adapter(
        sess,
        service_type='placement',
        endpoint_override=url.rstrip('/'),
        raise_exc=False,
    )


def _version_tuple(text: str) -> tuple[int, int]:
    """Parse "1.29" as (1, 29); unparsable sorts lowest (Placement judges)."""
    major, _, minor = text.strip().partition('.')
    try:
        return int(major), int(minor)
    except ValueError:
        return (-1, -1)


class LoggedRequest(NamedTuple):
    """A request seen by the proxy; status 0: the connection was dropped.

    ``start`` and ``end``: ``time.monotonic()`` when the proxy had read the
    request and when it answered (or dropped) it; ``body``: the request
    body, kept only while the proxy's ``keep_bodies`` is set.
    """

    method: str
    path: str
    status: int
    start: float = 0.0
    end: float = 0.0
    body: bytes = b''


Hook = Callable[[str, str], None]
BodyHook = Callable[[str, str, bytes], None]
Match = Callable[[str, str], bool]

_HOP_BY_HOP = {
    'connection',
    'keep-alive',
    'proxy-authenticate',
    'proxy-authorization',
    'te',
    'trailer',
    'trailers',
    'transfer-encoding',
    'upgrade',
    'host',
    'content-length',
}
_VERSION_HEADER = 'OpenStack-API-Version'
_NOT_ACCEPTABLE = (
    'The resource could not be generated that was acceptable to your'
    ' browser (content of type application/json. \n\n Invalid'
    ' microversion: Unacceptable version header: '
)
_REASONS = {
    400: 'Bad Request',
    404: 'Not Found',
    406: 'Not Acceptable',
    409: 'Conflict',
    500: 'Internal Server Error',
    502: 'Bad Gateway',
    503: 'Service Unavailable',
    504: 'Gateway Timeout',
}


class _Fault:
    def __init__(
        self,
        count: int,
        kind: str,
        status: int,
        match: Match | None,
        detail: str = 'Injected by FaultProxy.',
        body: bytes = b'',
        content_type: str = '',
    ) -> None:
        self.count = count
        # "fail", "answer", "reply", "drop" or "drop-after"
        self.kind = kind
        self.status = status
        self.match = match
        self.detail = detail
        self.body = body
        self.content_type = content_type


class FaultProxy:
    """A threaded HTTP proxy on 127.0.0.1 in front of a real Placement server.

    Use as ``with FaultProxy(upstream) as proxy:`` and point a client at
    ``proxy.url``.  Knobs (thread-safe, changeable at any time):

    * ``max_version = "1.29"``: ``GET /`` reports that max_version; a request
      for a higher microversion gets Placement's 406; ``latest`` is rewritten
      to it.  ``None`` (default) passes everything through.
    * ``fail_next(n, status=503)``: answer the next n matching requests with
      ``status`` and a Placement-style error body, without forwarding.
    * ``answer_next(n, status, detail)``: run the hooks, then answer the
      next n matching requests with ``status`` and ``detail``, without
      forwarding.
    * ``reply_next(n, status, body, content_type)``: answer the next n
      matching requests with exactly that body (an HTML page from a
      misconfigured proxy, JSON without the expected fields), without
      forwarding.
    * ``drop_next(n, after_forward=False)``: close the connection without an
      answer, before forwarding, or after Placement has handled the request
      (the change is applied but the client never hears so).
    * ``set_headers = {...}``: headers set on every forwarded request, as
      an auth middleware would (e.g. ``X-Roles`` for a token's roles).
    * ``before_forward = hook(method, path)``: called right before a request
      is forwarded (e.g. to race a concurrent change); exceptions it raises
      are kept in ``hook_errors`` and the request is still forwarded.
      ``before_forward_body = hook(method, path, body)``: the same, with
      the request body (e.g. to see which consumers a reshape moves).
    * ``log`` / ``count(method, path_prefix)`` / ``clear_log()``: each entry
      with the times it was received and answered; ``keep_bodies = True``
      keeps request bodies in the log too.
    """

    MAX_LOG = 100_000

    def __init__(self, upstream: str, timeout: float = 60.0) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme != 'http' or not parsed.hostname:
            raise ValueError(f'need an http:// upstream URL, got {upstream!r}')
        self.upstream_host: str = parsed.hostname
        self.upstream_port: int = parsed.port or 80
        self.upstream_prefix: str = parsed.path.rstrip('/')
        self.timeout = timeout
        self.max_version: str | None = None
        self.set_headers: dict[str, str] = {}
        self.before_forward: Hook | None = None
        self.before_forward_body: BodyHook | None = None
        self.keep_bodies = False
        self.hook_errors: list[BaseException] = []
        self.log: list[LoggedRequest] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url: str = ''

    # -- configuration -------------------------------------------------
    def fail_next(
        self, n: int, status: int = 503, match: Match | None = None
    ) -> None:
        with self._lock:
            self._faults.append(_Fault(n, 'fail', status, match))

    def answer_next(
        self, n: int, status: int, detail: str, match: Match | None = None
    ) -> None:
        """Run the hooks, then answer with ``status`` and ``detail``
        instead of forwarding: the answer Placement gives when it loses a
        race inside its own transaction, at the moment the hooks choose."""
        with self._lock:
            self._faults.append(_Fault(n, 'answer', status, match, detail))

    def reply_next(
        self, n: int, status: int, body: bytes, content_type: str,
        match: Match | None = None
    ) -> None:
        with self._lock:
            self._faults.append(_Fault(n, 'reply', status, match, body=body,
                                       content_type=content_type))

    def drop_next(
        self, n: int, after_forward: bool = False, match: Match | None = None
    ) -> None:
        with self._lock:
            self._faults.append(
                _Fault(n, 'drop-after' if after_forward else 'drop', 0, match)
            )

    def reset(self) -> None:
        """Forget pending faults, the hook, max_version and the log."""
        with self._lock:
            self._faults.clear()
            self.log.clear()
            self.hook_errors.clear()
        self.before_forward = None
        self.before_forward_body = None
        self.keep_bodies = False
        self.max_version = None

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()

    def count(self, method: str | None = None, path_prefix: str = '') -> int:
        with self._lock:
            return sum(
                1
                for r in self.log
                if (method is None or r.method == method)
                and r.path.startswith(path_prefix)
            )

    # -- internals -----------------------------------------------------
    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            self._faults = [f for f in self._faults if f.count > 0]
            for fault in self._faults:
                if fault.match is None or fault.match(method, path):
                    fault.count -= 1
                    return fault
            return None

    def _record(self, method: str, path: str, status: int,
                start: float = 0.0, body: bytes = b'') -> None:
        end = time.monotonic()
        with self._lock:
            if len(self.log) < self.MAX_LOG:
                self.log.append(LoggedRequest(
                    method, path, status, start, end,
                    body if self.keep_bodies else b''))

    def _handle(self, h: http.server.BaseHTTPRequestHandler) -> None:
        method, path = h.command, h.path
        length = int(h.headers.get('Content-Length') or 0)
        body = h.rfile.read(length) if length else b''
        start = time.monotonic()
        fault = self._take_fault(method, path)
        if fault is not None and fault.kind == 'answer':
            self._call_hooks(method, path, body)
        if fault is not None and fault.kind == 'reply':
            self._record(method, path, fault.status, start, body)
            h.send_response(fault.status)
            h.send_header('Content-Type', fault.content_type)
            h.send_header('Content-Length', str(len(fault.body)))
            h.end_headers()
            h.wfile.write(fault.body)
            return
        if fault is not None and fault.kind in ('fail', 'answer'):
            self._record(method, path, fault.status, start, body)
            self._reply_error(h, fault.status, fault.detail)
            return
        if fault is not None and fault.kind == 'drop':
            self._drop(h, method, path, start, body)
            return
        headers = {
            k: v for k, v in h.headers.items() if k.lower() not in _HOP_BY_HOP
        }
        headers.update(self.set_headers)
        max_version = self.max_version
        if max_version is not None and not self._cap_version(
            headers, max_version
        ):
            self._record(method, path, 406, start, body)
            self._reply_error(
                h,
                406,
                _NOT_ACCEPTABLE + headers.get(_VERSION_HEADER, ''),
                extra={'max_version': max_version, 'min_version': '1.0'},
            )
            return
        self._call_hooks(method, path, body)
        conn = http.client.HTTPConnection(
            self.upstream_host, self.upstream_port, timeout=self.timeout
        )
        try:
            conn.request(
                method,
                self.upstream_prefix + path,
                body=body or None,
                headers=headers,
            )
            resp = conn.getresponse()
            status, resp_headers, data = (
                resp.status,
                resp.getheaders(),
                resp.read(),
            )
        except OSError as exc:
            conn.close()
            self._record(method, path, 502, start, body)
            self._reply_error(h, 502, f'FaultProxy: upstream failed: {exc}')
            return
        conn.close()
        if (
            fault is not None
        ):  # drop-after: Placement handled it, the client never hears
            self._drop(h, method, path, start, body)
            return
        if (
            max_version is not None
            and method == 'GET'
            and path.rstrip('/') == ''
            and status == 200
        ):
            doc = json.loads(data)
            for version in doc.get('versions', []):
                version['max_version'] = max_version
            data = json.dumps(doc).encode()
        self._record(
            method, path, status, start, body
        )  # before answering: tests read the log next
        h.send_response(status)
        for key, value in resp_headers:
            if key.lower() not in _HOP_BY_HOP:
                h.send_header(key, value)
        h.send_header('Content-Length', str(len(data)))
        h.end_headers()
        if method != 'HEAD':
            h.wfile.write(data)

    def _call_hooks(self, method: str, path: str, body: bytes) -> None:
        """before_forward, then before_forward_body; what they raise is
        kept in hook_errors."""
        hook, body_hook = self.before_forward, self.before_forward_body
        try:
            if hook is not None:
                hook(method, path)
            if body_hook is not None:
                body_hook(method, path, body)
        except Exception as exc:  # reported via hook_errors; still forward
            with self._lock:
                self.hook_errors.append(exc)

    @staticmethod
    def _cap_version(headers: dict[str, str], max_version: str) -> bool:
        """Apply max_version to the request headers.

        Returns False if the request asks for more (the wanted version is
        then left in ``headers[_VERSION_HEADER]``).
        """
        for key in list(headers):
            if key.lower() != _VERSION_HEADER.lower():
                continue
            service, _, wanted = headers.pop(key).strip().partition(' ')
            wanted = wanted.strip()
            if service.lower() == 'placement' and wanted.lower() == 'latest':
                wanted = max_version
            elif service.lower() == 'placement' and (
                _version_tuple(wanted) > _version_tuple(max_version)
            ):
                headers[_VERSION_HEADER] = wanted
                return False
            headers[_VERSION_HEADER] = f'{service} {wanted}'
        return True

    @staticmethod
    def _reply_error(
        h: http.server.BaseHTTPRequestHandler,
        status: int,
        detail: str,
        extra: dict[str, str] | None = None,
    ) -> None:
        error: dict[str, Any] = {
            'status': status,
            'title': _REASONS.get(status, 'Error'),
            'detail': detail,
            'request_id': 'req-faultproxy',
        }
        error.update(extra or {})
        data = json.dumps({'errors': [error]}).encode()
        h.send_response(status)
        h.send_header('Content-Type', 'application/json')
        h.send_header('Content-Length', str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _drop(
        self,
        h: http.server.BaseHTTPRequestHandler,
        method: str,
        path: str,
        start: float = 0.0,
        body: bytes = b'',
    ) -> None:
        self._record(method, path, 0, start, body)
        h.close_connection = True
        with contextlib.suppress(OSError):
            h.connection.shutdown(socket.SHUT_RDWR)

    # -- lifecycle -----------------------------------------------------
    def start(self) -> str:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'
            # Nagle's delay cost about 40 ms per proxied request.
            disable_nagle_algorithm = True
            timeout = proxy.timeout

            def _any(self) -> None:
                proxy._handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(
            ('127.0.0.1', 0), Handler
        )
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={'poll_interval': 0.1},
            name='FaultProxy',
            daemon=True,
        )
        self._thread.start()
        self.url = f'http://127.0.0.1:{self._server.server_address[1]}'
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> FaultProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
