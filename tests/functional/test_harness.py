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

"""Smoke tests proving the functional harness reaches a real Placement."""

from __future__ import annotations

import json
import os
from pathlib import Path
import subprocess
import sys
import time
from typing import Any
import uuid

from keystoneauth1 import adapter as ks_adapter
from keystoneauth1 import exceptions as ks_exc
import pytest

try:
    from .harness import FaultProxy
    from .harness import http_placement
except ImportError:
    from harness import FaultProxy  # type: ignore[no-redef]
    from harness import http_placement  # type: ignore[no-redef]


def _ok(resp: Any, *statuses: int) -> Any:
    assert resp.status_code in (statuses or (200,)), (
        resp.status_code,
        resp.text,
    )
    return resp


def _flat_node(client: ks_adapter.Adapter) -> dict[str, Any]:
    """A root with VCPU+VGPU, one consumer on it, and an empty child."""
    root, child, consumer = (str(uuid.uuid4()) for _ in range(3))
    name = f'np-node-{root}'
    _ok(
        client.post(
            '/resource_providers',
            json={'name': name, 'uuid': root},
            microversion='1.20',
        )
    )
    _ok(
        client.put(
            f'/resource_providers/{root}/inventories',
            microversion='1.20',
            json={
                'resource_provider_generation': 0,
                'inventories': {'VCPU': {'total': 8}, 'VGPU': {'total': 4}},
            },
        )
    )
    alloc = {
        'allocations': {root: {'resources': {'VCPU': 2, 'VGPU': 1}}},
        'project_id': str(uuid.uuid4()),
        'user_id': str(uuid.uuid4()),
        'consumer_generation': None,
    }
    _ok(
        client.put(
            f'/allocations/{consumer}', json=alloc, microversion='1.28'
        ),
        204,
    )
    _ok(
        client.post(
            '/resource_providers',
            microversion='1.20',
            json={
                'name': f'{name}_pgpu0',
                'uuid': child,
                'parent_provider_uuid': root,
            },
        )
    )
    return {'root': root, 'child': child, 'consumer': consumer, 'alloc': alloc}


def _reshape_body(
    client: ks_adapter.Adapter, node: dict[str, Any]
) -> dict[str, Any]:
    root, child, consumer = node['root'], node['child'], node['consumer']
    root_gen = _ok(
        client.get(f'/resource_providers/{root}', microversion='1.14')
    ).json()
    cons = _ok(
        client.get(f'/allocations/{consumer}', microversion='1.28')
    ).json()
    return {
        'inventories': {
            root: {
                'resource_provider_generation': root_gen['generation'],
                'inventories': {'VCPU': {'total': 8}},
            },
            child: {
                'resource_provider_generation': 0,
                'inventories': {'VGPU': {'total': 4}},
            },
        },
        'allocations': {
            consumer: {
                'allocations': {
                    root: {'resources': {'VCPU': 2}},
                    child: {'resources': {'VGPU': 1}},
                },
                'project_id': node['alloc']['project_id'],
                'user_id': node['alloc']['user_id'],
                'consumer_generation': cons['consumer_generation'],
            }
        },
    }


def test_reshape_moves_inventory_and_allocation(
    placement: ks_adapter.Adapter,
) -> None:
    node = _flat_node(placement)
    body = _reshape_body(placement, node)
    _ok(placement.post('/reshaper', json=body, microversion='1.29'), 404)
    _ok(placement.post('/reshaper', json=body, microversion='1.30'), 204)

    root, child = node['root'], node['child']
    got = _ok(
        placement.get(f'/allocations/{node["consumer"]}', microversion='1.28')
    ).json()
    assert got['allocations'][root]['resources'] == {'VCPU': 2}
    assert got['allocations'][child]['resources'] == {'VGPU': 1}
    root_inv = _ok(
        placement.get(f'/resource_providers/{root}/inventories')
    ).json()
    child_inv = _ok(
        placement.get(f'/resource_providers/{child}/inventories')
    ).json()
    assert set(root_inv['inventories']) == {'VCPU'}
    assert child_inv['inventories']['VGPU']['total'] == 4


def test_reshaper_needs_service_role_over_http(real_server_url: str) -> None:
    admin_only = http_placement(real_server_url, roles=('admin',))
    resp = _ok(admin_only.post('/reshaper', json={}, microversion='1.30'), 403)
    assert 'placement:reshaper:reshape' in resp.text
    # With the service role the same empty body passes policy and fails schema.
    _ok(
        http_placement(real_server_url).post(
            '/reshaper', json={}, microversion='1.30'
        ),
        400,
    )


def test_reshaper_needs_service_role_direct(
    direct: ks_adapter.Adapter,
) -> None:
    resp = direct.post(
        '/reshaper', json={}, microversion='1.30', headers={'X-Roles': 'admin'}
    )
    _ok(resp, 403)


def test_proxy_max_version(
    fault_proxy: FaultProxy, http: ks_adapter.Adapter
) -> None:
    client = http_placement(fault_proxy.url)
    assert (
        client.get('/').json()['versions'][0]['max_version']
        == http.get('/').json()['versions'][0]['max_version']
        == '1.39'
    )
    fault_proxy.max_version = '1.29'
    assert client.get('/').json()['versions'][0]['max_version'] == '1.29'
    resp = _ok(client.post('/reshaper', json={}, microversion='1.30'), 406)
    assert resp.json()['errors'][0]['max_version'] == '1.29'
    resp = _ok(client.get('/resource_providers', microversion='latest'))
    assert resp.headers['openstack-api-version'] == 'placement 1.29'
    _ok(client.get('/resource_providers', microversion='1.29'))


def test_proxy_fail_next_and_request_log(fault_proxy: FaultProxy) -> None:
    client = http_placement(fault_proxy.url)
    fault_proxy.fail_next(2)
    statuses = [
        client.get('/resource_providers').status_code for _ in range(3)
    ]
    assert statuses == [503, 503, 200]
    assert fault_proxy.count('GET', '/resource_providers') == 3
    assert [r.status for r in fault_proxy.log] == [503, 503, 200]
    fault_proxy.fail_next(1, status=500, match=lambda m, _p: m == 'PUT')
    _ok(client.get('/resource_providers'))
    rc = f'CUSTOM_NP_{uuid.uuid4().hex.upper()}'
    _ok(client.put(f'/resource_classes/{rc}', microversion='1.7'), 500)
    _ok(client.put(f'/resource_classes/{rc}', microversion='1.7'), 201)
    assert fault_proxy.count('PUT') == 2
    assert fault_proxy.count() == 6


def test_proxy_drop_next(
    fault_proxy: FaultProxy, http: ks_adapter.Adapter
) -> None:
    client = http_placement(fault_proxy.url)
    fault_proxy.drop_next(1)
    with pytest.raises(ks_exc.ConnectionError):
        client.get('/resource_providers')
    _ok(client.get('/resource_providers'))
    # Dropped after forwarding: Placement applied the change, but the
    # client never heard so.
    rc = f'CUSTOM_NP_{uuid.uuid4().hex.upper()}'
    fault_proxy.drop_next(1, after_forward=True)
    with pytest.raises(ks_exc.ConnectionError):
        client.put(f'/resource_classes/{rc}', microversion='1.7')
    _ok(http.get(f'/resource_classes/{rc}', microversion='1.7'))
    assert [r.status for r in fault_proxy.log] == [0, 200, 0]


def test_proxy_log_times_and_bodies(fault_proxy: FaultProxy) -> None:
    seen: list[tuple[str, str, bytes]] = []
    fault_proxy.before_forward_body = lambda m, p, b: seen.append((m, p, b))
    client = http_placement(fault_proxy.url)
    name = f'np-log-{uuid.uuid4()}'
    _ok(client.get('/'))
    fault_proxy.keep_bodies = True
    before = time.monotonic()
    _ok(client.post('/resource_providers', json={'name': name},
                    microversion='1.20'))
    after = time.monotonic()
    assert [(m, p) for m, p, _ in seen] == [
        ('GET', '/'), ('POST', '/resource_providers')]
    assert seen[0][2] == b'' and json.loads(seen[1][2]) == {'name': name}
    first, second = fault_proxy.log
    assert first.body == b''  # kept only once keep_bodies was set
    assert json.loads(second.body) == {'name': name}
    assert first.start <= first.end <= second.start
    assert before <= second.start <= second.end <= after


@pytest.mark.every_backend(
    "a write racing the reshape: the database's locking")
def test_proxy_before_forward_races_reshape(
    fault_proxy: FaultProxy, http: ks_adapter.Adapter
) -> None:
    node = _flat_node(http)
    body = _reshape_body(http, node)
    root = node['root']

    def bump_root(method: str, path: str) -> None:
        if (method, path) == ('POST', '/reshaper'):
            gen = http.get(f'/resource_providers/{root}').json()['generation']
            _ok(
                http.put(
                    f'/resource_providers/{root}/traits',
                    microversion='1.6',
                    json={
                        'resource_provider_generation': gen,
                        'traits': ['HW_CPU_X86_AVX2'],
                    },
                )
            )

    fault_proxy.before_forward = bump_root
    resp = http_placement(fault_proxy.url).post(
        '/reshaper', json=body, microversion='1.30'
    )
    assert not fault_proxy.hook_errors
    _ok(resp, 409)
    assert resp.json()['errors'][0]['code'] == 'placement.concurrent_update'


def _collected(env: dict[str, str]) -> set[str]:
    here = Path(__file__).resolve()
    out = subprocess.run(
        [sys.executable, '-m', 'pytest', '--collect-only', '-q',
         '-p', 'no:cacheprovider', str(here.parent / 'test_faults.py')],
        cwd=here.parents[2], env={**os.environ, **env}, text=True,
        capture_output=True, check=True).stdout
    return {line.split('::', 1)[1] for line in out.splitlines()
            if '::' in line}


def test_only_hazards_of_the_database_run_on_every_backend() -> None:
    """Fails when a test not marked ``every_backend`` runs on MariaDB as
    well, when a marked one does not, or when the variable that runs
    everything everywhere is ignored: the suite would again run each
    scenario on each backend, or lose its hazard tests on MariaDB."""
    plain = 'test_5xx_on_the_reshape_is_retried'
    hazard = 'test_claim_on_the_node_during_the_pivot_is_re_planned'
    found = _collected({'NESTED_PIVOT_EVERY_BACKEND': ''})
    assert {f'{plain}[postgresql]', f'{hazard}[postgresql]',
            f'{hazard}[mariadb]'} <= found
    assert f'{plain}[mariadb]' not in found
    assert f'{plain}[mariadb]' in _collected(
        {'NESTED_PIVOT_EVERY_BACKEND': '1'})
