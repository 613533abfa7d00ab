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

"""The HTTP layer: one keystoneauth1 Adapter, errors wrapped in one place.

Every request goes through :meth:`PlacementClient.request`, which counts
it, names its microversion (every call says which), retries connection
errors and 5xx answers with jittered backoff, and turns keystoneauth's
exceptions into nested_pivot's in :func:`_wrapped`.  The client is the one
owner of transport retries (``[nested_pivot] max_retries``): the
keystoneauth adapter it loads retries nothing itself, so the two never
multiply.  Non-2xx answers come back as :class:`Response` for the caller
to judge, except 401, which is :class:`~nested_pivot.exception.
AuthenticationFailed` wherever it comes from; ``raise_exc`` is always off,
as with ``placement.direct.PlacementDirect``.  The client knows nothing of
pivots: no thread pool, no conflict handling (``conflict_retries`` is
carried here for the Placement layer's re-reads and re-plans).
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import dataclasses
import random
import re
import threading
import time
from typing import Any
from typing import TYPE_CHECKING

from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import loading as ks_loading
from oslo_config import cfg
from oslo_log import log as logging

from nested_pivot import conf as np_conf
from nested_pivot import exception
from nested_pivot import microversion
from nested_pivot.placement import answers

if TYPE_CHECKING:
    from nested_pivot.placement.database import PlacementDatabase

LOG = logging.getLogger(__name__)

RESHAPE_POLICY = 'placement:reshaper:reshape'

KEYSTONEAUTH_RETRIES = ('connect_retries', 'status_code_retries')
"""keystoneauth's own retry options of ``[placement]``: the adapter is
loaded with both at 0, since the client retries itself."""


@dataclasses.dataclass(frozen=True)
class Response:
    """A Placement answer: status, parsed body, and placement's error."""

    method: str
    url: str
    status: int
    body: Any
    retried: bool = False
    """Sent more than once: an earlier try may have been applied although
    its answer never came."""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error_code(self) -> str | None:
        error = self._first_error()
        return error.get('code') if error else None

    @property
    def detail(self) -> str:
        error = self._first_error()
        if error:
            return str(error.get('detail') or error.get('title') or '')
        return '' if self.body is None else str(self.body)[:500]

    def _first_error(self) -> dict[str, Any] | None:
        if isinstance(self.body, dict) and self.body.get('errors'):
            first = self.body['errors'][0]
            return first if isinstance(first, dict) else None
        return None

    def error(self) -> exception.PlacementError:
        """The exception for this answer."""
        return exception.PlacementError(
            method=self.method, url=self.url, status=self.status,
            error_code=self.error_code or '', detail=self.detail)


DEFAULT_CONCURRENCY = 8
"""Reads in flight against a Placement server."""


class PlacementClient:
    """Talks to Placement through a keystoneauth1 Adapter.

    ``headers`` are sent with every request (the offline CLI uses them to
    claim the service role under noauth2).  ``max_concurrency`` is how
    many reads its callers may have in flight: by default
    :data:`DEFAULT_CONCURRENCY` for a server, and one for Placement in
    this process (``placement.direct``), where threads only add cost.
    ``database``, offline, is Placement's database itself: the Placement
    layer reads nodes from it in bulk and reshapes through it.

    ``max_retries`` is how often a request is retried on a transport
    failure; ``conflict_retries`` how often the Placement layer re-reads
    (and re-plans) after a concurrent change.
    """

    def __init__(self, adapter: Any, *, max_concurrency: int | None = None,
                 max_retries: int = 5, conflict_retries: int = 5,
                 backoff: float = 0.2,
                 headers: dict[str, str] | None = None,
                 database: PlacementDatabase | None = None) -> None:
        self.adapter = adapter
        self.database = database
        if max_concurrency is None:
            max_concurrency = 1 if in_process(adapter) \
                else DEFAULT_CONCURRENCY
        if max_concurrency < 1:
            raise ValueError(f'max_concurrency must be at least 1, not '
                             f'{max_concurrency}')
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.conflict_retries = conflict_retries
        self.backoff = backoff
        self.headers = dict(headers or {})
        self._lock = threading.Lock()
        self._requests = 0
        self._version: microversion.Version | None = None
        self._endpoint_known = False

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts) -> PlacementClient:
        """A client from nova.conf-style ``[placement]`` credentials."""
        np_conf.register_opts(conf)
        ignored = [f'{name} = {conf.placement[name]}'
                   for name in KEYSTONEAUTH_RETRIES
                   if conf.placement[name] is not None]
        if ignored:
            LOG.warning('[placement] %s: ignored; nested_pivot retries '
                        'connection errors and 5xx answers itself, '
                        '[nested_pivot] max_retries = %d times',
                        ', '.join(ignored), conf.nested_pivot.max_retries)
        with _wrapped('configure', 'placement'):
            auth = ks_loading.load_auth_from_conf_options(conf, 'placement')
            session = ks_loading.load_session_from_conf_options(
                conf, 'placement', auth=auth)
            adapter = ks_loading.load_adapter_from_conf_options(
                conf, 'placement', session=session, auth=auth,
                **dict.fromkeys(KEYSTONEAUTH_RETRIES, 0))
        return cls(adapter,
                   max_concurrency=conf.nested_pivot.max_concurrency,
                   max_retries=conf.nested_pivot.max_retries,
                   conflict_retries=conf.nested_pivot.conflict_retries)

    @property
    def requests(self) -> int:
        """HTTP requests made so far, retries included."""
        return self._requests

    # -- versions ----------------------------------------------------------
    def version(self) -> microversion.Version:
        """The microversion to speak, discovered once.

        :raises PlacementTooOld: below the reshaper's 1.30.
        """
        if self._version is None:
            resp = self.request('GET', '/', version=None)
            if not resp.ok:
                raise resp.error()
            server_max = _max_version(resp.body)
            if not microversion.at_least(server_max, microversion.RESHAPER):
                raise exception.PlacementTooOld(
                    url=self._endpoint(), version=microversion.text(
                        server_max),
                    minimum=microversion.text(microversion.RESHAPER))
            self._version = microversion.choose(server_max)
        return self._version

    # -- requests ----------------------------------------------------------
    def request(self, method: str, url: str, *, json: Any = None,
                version: microversion.VersionLike | None) -> Response:
        """One request at microversion ``version`` (None: no version
        header, for the version document), retried on transient
        failures.

        :raises AuthenticationFailed: Placement answered 401.
        """
        self._find_endpoint()
        attempt = 0
        while True:
            try:
                resp = self._once(method, url, json, version)
            except exception.TransientFailure as err:
                attempt += 1
                if attempt > self.max_retries:
                    raise exception.PlacementUnavailable(
                        url=f'{self._endpoint()} ({method} {url})',
                        attempts=attempt, detail=str(err)) from None
                self.sleep(attempt)
                continue
            if resp.status == 401:
                raise self._unauthorized(method, url, 401, resp.detail)
            _check_answer(resp)
            return dataclasses.replace(resp, retried=attempt > 0)

    def get(self, url: str, version: microversion.VersionLike) -> Any:
        """GET a body; any non-2xx answer raises."""
        resp = self.request('GET', url, version=version)
        if not resp.ok:
            raise resp.error()
        return resp.body

    def sleep(self, attempt: int) -> None:
        """Jittered exponential backoff before retry ``attempt``."""
        backoff(self.backoff, attempt)

    def _once(self, method: str, url: str, json: Any,
              version: microversion.VersionLike | None) -> Response:
        headers = dict(self.headers)
        if version is not None:
            headers['OpenStack-API-Version'] = (
                'placement ' + microversion.text(microversion.parse(version)))
        with self._lock:
            self._requests += 1
        try:
            with _wrapped(method, url):
                raw = self.adapter.request(url, method, json=json,
                                           headers=headers, raise_exc=False)
        except _Unauthorized as err:
            raise self._unauthorized(method, url, 401, err.detail) from None
        resp = Response(method, url, raw.status_code, _body(raw))
        if resp.status >= 500:
            raise exception.TransientFailure(
                detail=f'HTTP {resp.status}: {resp.detail}')
        return resp

    def _find_endpoint(self) -> None:
        """Authenticate and find Placement's endpoint, once: a failure
        there is keystone's, not Placement's, and says so."""
        if self._endpoint_known:
            return
        try:
            self.adapter.get_endpoint()
        except ks_exc.ClientException as err:
            raise self._unauthorized(
                'GET', '/', getattr(err, 'http_status', None),
                f'{type(err).__name__}: {err}') from None
        self._endpoint_known = True

    def _unauthorized(self, method: str, url: str, status: int | None,
                      detail: str) -> exception.AuthenticationFailed:
        """The one mapping of a failed authentication: keystone's, at
        endpoint discovery, or Placement's 401."""
        return exception.AuthenticationFailed(
            method=method, url=url, status=status, error_code='',
            auth_url=self._auth_url(), detail=detail)

    def _auth_url(self) -> str:
        auth = (getattr(self.adapter, 'auth', None)
                or getattr(getattr(self.adapter, 'session', None), 'auth',
                           None))
        return str(getattr(auth, 'auth_url', None) or 'the auth_url')

    def _endpoint(self) -> str:
        with contextlib.suppress(Exception):
            return str(self.adapter.get_endpoint())
        return 'placement'


def backoff(base: float, attempt: int) -> None:
    """Sleep before retry ``attempt``: jittered exponential from ``base``,
    at most 5 s."""
    delay = min(5.0, base * 2 ** (attempt - 1))
    time.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311


# placement.direct.PlacementDirect serves http://<a new uuid>/placement.
DIRECT_ENDPOINT = re.compile(r'^http://[0-9a-f]{8}(-[0-9a-f]{4}){3}-'
                             r'[0-9a-f]{12}/placement/?$')


def in_process(adapter: Any) -> bool:
    """Is ``adapter`` a ``placement.direct`` one, served in this process?
    Told by its endpoint, the form PlacementDirect gives it."""
    try:
        url = str(adapter.get_endpoint())
    except Exception:
        return False
    return DIRECT_ENDPOINT.match(url) is not None


@contextlib.contextmanager
def _wrapped(method: str, url: str) -> Iterator[None]:
    """The one place keystoneauth's exceptions become nested_pivot's."""
    try:
        yield
    except (ks_exc.ConnectionError, ks_exc.RequestTimeout) as err:
        raise exception.TransientFailure(
            detail=f'{type(err).__name__}: {err}') from err
    except ks_exc.Unauthorized as err:
        raise _Unauthorized(f'check the credentials in [placement]: '
                            f'{err}') from err
    except ks_exc.ClientException as err:
        raise exception.PlacementError(
            method=method, url=url, status=getattr(err, 'http_status', ''),
            error_code='', detail=f'{type(err).__name__}: {err}') from err


class _Unauthorized(Exception):
    """keystoneauth's 401, for the client to map with its auth URL."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def _check_answer(resp: Response) -> None:
    """A 2xx answer to a read must look like Placement's.

    :raises MalformedAnswer: naming the request and what is wrong.
    """
    if resp.method != 'GET' or not resp.ok:
        return
    found = answers.problem(resp.url, resp.body)
    if found:
        raise exception.MalformedAnswer(
            method=resp.method, url=resp.url, status=resp.status,
            error_code='', detail=found)


def _body(raw: Any) -> Any:
    if not raw.content:
        return None
    try:
        return raw.json()
    except ValueError:
        return raw.text


def _max_version(document: Any) -> microversion.Version:
    try:
        versions = document['versions']
        return max(microversion.parse(v['max_version']) for v in versions)
    except (KeyError, TypeError, ValueError):
        raise exception.MalformedAnswer(
            method='GET', url='/', status=200, error_code='',
            detail=f'not a placement version document but '
                   f'{answers.describe(document)}') from None
