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

"""PlacementClient built from nova.conf-style options, against the real
server."""

from __future__ import annotations

import logging

from oslo_config import cfg
import pytest

import nested_pivot
from nested_pivot import exception
from nested_pivot import microversion
from nested_pivot.placement import PlacementClient
from tests.functional import seed
from tests.functional.test_pivot import two_socket_host
from tests.functional.test_pivot import TWO_SOCKETS


def _conf(tmp_path, text: str) -> cfg.ConfigOpts:
    path = tmp_path / 'nova.conf'
    path.write_text(text)
    conf = cfg.ConfigOpts()
    conf(['--config-file', str(path)], project='nova')
    return conf


def test_from_conf_reads_the_placement_group(http, real_server_url,
                                             tmp_path, caplog):
    name, root, vms = two_socket_host(http, 2)
    conf = _conf(tmp_path, f"""
[placement]
auth_type = admin_token
endpoint = {real_server_url}
token = admin
connect_retries = 3

[nested_pivot]
max_concurrency = 3
max_retries = 1
conflict_retries = 4
""")
    with caplog.at_level(logging.WARNING, 'nested_pivot.placement.http'):
        client = PlacementClient.from_conf(conf)
    assert (client.max_concurrency, client.max_retries,
            client.conflict_retries) == (3, 1, 4)
    # One owner of transport retries: keystoneauth's are off, and the
    # operator who set one is told so.
    assert (client.adapter.connect_retries,
            client.adapter.status_code_retries) == (0, 0)
    assert '[placement] connect_retries = 3: ignored' in caplog.text
    assert client.version() == microversion.NEWEST_KNOWN
    assert nested_pivot.status(client, name, TWO_SOCKETS).consumers == 2
    # An admin token without the service role is refused the reshape, and
    # the error says which role is missing.
    with pytest.raises(exception.PermissionDenied, match='service'):
        nested_pivot.pivot(client, name, TWO_SOCKETS)
    assert all(
        set(seed.allocations(http, vm)['allocations']) == {root}
        for vm in vms
    )


def test_unreachable_placement_is_unavailable(tmp_path):
    conf = _conf(tmp_path, """
[placement]
auth_type = admin_token
endpoint = http://127.0.0.1:9
token = admin

[nested_pivot]
max_retries = 1
""")
    client = PlacementClient.from_conf(conf)
    client.backoff = 0.01
    with pytest.raises(exception.PlacementUnavailable, match='2 attempts'):
        client.version()


def test_one_read_in_flight_in_process_and_eight_on_a_server(direct, http):
    """In process (placement.direct) threads only add cost; a server
    takes reads in parallel."""
    assert PlacementClient(direct).max_concurrency == 1
    assert PlacementClient(http).max_concurrency == 8
    assert PlacementClient(direct, max_concurrency=3).max_concurrency == 3
    with pytest.raises(ValueError, match='at least 1'):
        PlacementClient(http, max_concurrency=0)


def test_a_401_from_placement_is_the_one_authentication_error(
        real_server_url):
    """Placement's own 401 (noauth2 without a token) is mapped as
    keystone's refusal at endpoint discovery is: AuthenticationFailed,
    with its code, whatever the request."""
    from keystoneauth1 import adapter as ks_adapter
    from keystoneauth1 import session as ks_session

    from nested_pivot import errors

    tokenless = ks_adapter.Adapter(
        ks_session.Session(auth=None), service_type='placement',
        endpoint_override=real_server_url.rstrip('/'), raise_exc=False)
    client = PlacementClient(tokenless, backoff=0.01)
    for call in (lambda: client.get('/resource_providers',
                                    microversion.PROVIDERS),
                 lambda: client.request('PUT', '/traits/CUSTOM_X',
                                        version=microversion.TRAITS_PUT)):
        with pytest.raises(exception.AuthenticationFailed) as err:
            call()
        assert err.value.status == 401
        assert err.value.code == errors.AUTHENTICATION_FAILED
        assert 'failed, so Placement cannot be reached' in str(err.value)
    # The version document needs no token: only what does is refused.
    assert client.request('GET', '/', version=None).ok


def test_in_process_is_told_by_placement_direct_s_endpoint(direct, http):
    """Fails when in_process() stops telling placement.direct's adapter
    (served in this process) from a server's, without reading
    wsgi-intercept's private registry."""
    from nested_pivot.placement.http import in_process

    assert in_process(direct) and not in_process(http)
