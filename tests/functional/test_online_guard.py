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

"""Online pivots next to a running nova-compute: refused where the compute
would undo them or count the capacity twice, unless --force."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.functional import fleet
from tests.functional import harness
from tests.functional import seed
from tests.functional.test_cli import Fleet


@pytest.fixture
def online(real_server_url, tmp_path) -> Any:
    with harness.FaultProxy(real_server_url) as proxy:
        proxy.set_headers = {'X-Roles': 'admin,service'}
        conf = tmp_path / 'nova.conf'
        harness.nova_conf(conf, proxy.url)
        yield lambda prefix: Fleet(tmp_path, prefix,
                                   ['--config-file', str(conf)])


def _node(http: Any, mode: str | None) -> tuple[str, str, str]:
    prefix = seed.unique('guard')
    name = f'{prefix}-numa-000'
    fleet.node(http, name, 'numa')
    root = fleet.roots(http, prefix)[0]
    if mode:
        seed.mark_hook(http, root, mode)
    return prefix, name, root


def _state(f: Fleet, name: str) -> str:
    document = json.loads(f.run('status', name, '--json').stdout)
    return str(document['state'])


@pytest.mark.parametrize('mode,words', [
    (None, 'does not run nested_pivot\'s hook'),
    ('off', 'pivot_mode = off'),
])
def test_apply_is_refused_where_the_compute_would_undo_it(http, online,
                                                         mode, words):
    prefix, name, root = _node(http, mode)
    f = online(prefix)
    before = seed.dump(http, root, [])
    refused = f.run('apply', name, '--yes')
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert words in refused.stdout and '--force' in refused.stdout
    assert seed.dump(http, root, []) == before
    assert not list(Path(f.state).rglob('*.json'))  # nothing journaled
    forced = f.run('apply', name, '--yes', '--force')
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert _state(f, name) == 'pivoted'


def test_rollback_is_refused_where_the_compute_would_pivot_again(
        http, online):
    prefix, name, _ = _node(http, 'startup')
    f = online(prefix)
    assert f.run('apply', name, '--yes').returncode == 0
    refused = f.run('rollback', name, '--yes')
    assert refused.returncode == 2
    assert 'pivot_mode = startup' in refused.stdout
    assert _state(f, name) == 'pivoted'
    assert f.run('rollback', name, '--yes', '--force').returncode == 0
    assert _state(f, name) == 'flat'


def test_offline_needs_no_mark(tmp_path):
    from tests.functional.test_cli import seed_offline
    from tests.functional.test_cli import sqlite_url

    url = seed_offline(sqlite_url(tmp_path / 'p.db'), 'g', 1)
    f = Fleet(tmp_path, 'g', ['--placement-db', url])
    assert f.run('apply', 'g-numa-000', '--yes').returncode == 0


def test_a_node_counted_twice_is_named(http, online):
    """The driver put the flat inventory back on the root of a pivoted
    node: check and status say double_counted, exit 2."""
    prefix, name, root = _node(http, 'requested')
    f = online(prefix)
    assert f.run('apply', name, '--yes').returncode == 0
    inventories = seed.call(http, 'GET',
                            f'/resource_providers/{root}/inventories')
    inventories['inventories']['VCPU'] = {'total': 32,
                                          'allocation_ratio': 2.0}
    seed.call(http, 'PUT', f'/resource_providers/{root}/inventories',
              inventories)
    status = f.run('status', name)
    assert status.returncode == 2 and 'double_counted' in status.stdout
    check = f.check()
    assert check['states'][name] == 'double_counted'
    assert check['code'] == 2
