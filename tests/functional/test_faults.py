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

"""Failures between nested_pivot and a real Placement server: an old
placement, missing roles, 5xx and dropped connections, concurrent writers,
vanishing consumers.  Faults come from a real proxy or a hook in front of
the real server, never from a mock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
import uuid as uuidlib

import pytest

import nested_pivot
from nested_pivot import errors
from nested_pivot import exception
from nested_pivot.placement import PivotResult
from nested_pivot.placement import PlacementClient
from tests.functional import harness
from tests.functional import seed
from tests.functional.test_pivot import two_socket_host
from tests.functional.test_pivot import TWO_SOCKETS

CLAIM = {'VCPU': 1, 'MEMORY_MB': 256, 'DISK_GB': 1}


def _reshapes(method: str, path: str) -> bool:
    return method == 'POST' and path.endswith('/reshaper')


def other_writer_first(
    http: Any, name: str, when: Callable[[str, str], bool] = _reshapes
) -> tuple[Callable[[str, str], None], list[PivotResult]]:
    """A ``before_forward`` hook, and the list its one result goes to: at
    the first request ``when`` matches, another writer pivots ``name``
    (a two-socket host) straight on the server."""
    results: list[PivotResult] = []

    def hook(method: str, path: str) -> None:
        if when(method, path) and not results:
            results.append(nested_pivot.pivot(PlacementClient(http), name,
                                              TWO_SOCKETS))

    return hook, results


def test_placement_older_than_1_30_is_refused(http, fault_proxy):
    name, _, _ = two_socket_host(http, 2)
    fault_proxy.max_version = '1.29'
    client = PlacementClient(harness.http_placement(fault_proxy.url))
    with pytest.raises(
        exception.PlacementTooOld, match='upgrade placement before pivoting'
    ):
        nested_pivot.pivot(client, name, TWO_SOCKETS)
    assert fault_proxy.count('POST') == fault_proxy.count('PUT') == 0


def test_token_without_service_role_gets_permission_denied(
    http, real_server_url
):
    name, root, vms = two_socket_host(http, 3)
    admin_only = harness.http_placement(real_server_url, roles=('admin',))
    with pytest.raises(
        exception.PermissionDenied, match='"service" role'
    ) as err:
        nested_pivot.pivot(PlacementClient(admin_only), name, TWO_SOCKETS)
    assert err.value.status == 403
    # The empty children were created; the allocations did not move, and a
    # rerun with the right credentials reuses the children.
    before = seed.totals(http, vms)
    assert all(root in seed.allocations(http, vm)['allocations'] for vm in vms)
    result = nested_pivot.pivot(PlacementClient(http), name, TWO_SOCKETS)
    assert result.plan.created == ()
    seed.assert_pivoted(http, root, name, TWO_SOCKETS, before)


def test_5xx_on_the_reshape_is_retried(http, fault_proxy):
    name, root, vms = two_socket_host(http, 4)
    before = seed.totals(http, vms)
    fault_proxy.fail_next(2, status=503, match=_reshapes)
    client = PlacementClient(
        harness.http_placement(fault_proxy.url), backoff=0.01
    )
    assert nested_pivot.pivot(client, name, TWO_SOCKETS).applied
    assert fault_proxy.count('POST', '/reshaper') == 3
    seed.assert_pivoted(http, root, name, TWO_SOCKETS, before)


def test_placement_unavailable_leaves_only_empty_children(http, fault_proxy):
    name, root, vms = two_socket_host(http, 4)
    fault_proxy.fail_next(100, status=502, match=_reshapes)
    client = PlacementClient(
        harness.http_placement(fault_proxy.url), backoff=0.01, max_retries=2
    )
    with pytest.raises(exception.PlacementUnavailable, match='3 attempts'):
        nested_pivot.pivot(client, name, TWO_SOCKETS)
    assert all(
        set(seed.allocations(http, vm)['allocations']) == {root} for vm in vms
    )
    children = [p for p in seed.tree(http, root) if p['uuid'] != root]
    assert len(children) == 2
    for child in children:
        inv = seed.call(
            http, 'GET', f'/resource_providers/{child["uuid"]}/inventories'
        )['inventories']
        assert inv == {}


def test_dropped_answer_after_a_successful_reshape(http, fault_proxy):
    name, root, vms = two_socket_host(http, 4)
    before = seed.totals(http, vms)
    fault_proxy.drop_next(1, after_forward=True, match=_reshapes)
    client = PlacementClient(
        harness.http_placement(fault_proxy.url), backoff=0.01
    )
    result = nested_pivot.pivot(client, name, TWO_SOCKETS)
    # The retried POST sees stale generations; the re-read finds the
    # reshape done and only the children's traits left to set.
    assert result.retries == 1 and result.applied
    assert len(result.plan.consumers) == 4
    assert fault_proxy.count('POST', '/reshaper') == 2
    seed.assert_pivoted(http, root, name, TWO_SOCKETS, before)


@pytest.mark.every_backend(
    "a concurrent claim: the database's generations")
def test_claim_on_the_node_during_the_pivot_is_re_planned(http, fault_proxy):
    name, root, vms = two_socket_host(http, 5)
    late = str(uuidlib.uuid4())
    fired = []

    def claim(method: str, path: str) -> None:
        if _reshapes(method, path) and not fired:
            fired.append(path)
            seed.allocate(http, late, {root: {'VCPU': 2, 'MEMORY_MB': 512}})

    fault_proxy.before_forward = claim
    client = PlacementClient(
        harness.http_placement(fault_proxy.url), backoff=0.01
    )
    result = nested_pivot.pivot(client, name, TWO_SOCKETS)
    assert not fault_proxy.hook_errors
    assert result.retries == 1 and late in result.plan.consumers
    before = seed.totals(http, [*vms, late])
    seed.assert_pivoted(http, root, name, TWO_SOCKETS, before)
    assert root not in seed.allocations(http, late)['allocations']


@pytest.mark.every_backend(
    "a concurrent delete: the database's isolation")
def test_consumer_deleted_between_reads_is_dropped(http, fault_proxy):
    name, root, vms = two_socket_host(http, 4)
    gone = vms[0]

    def delete(method: str, path: str) -> None:
        if method == 'GET' and path.endswith(f'/allocations/{gone}'):
            seed.call(http, 'DELETE', f'/allocations/{gone}')

    fault_proxy.before_forward = delete
    client = PlacementClient(harness.http_placement(fault_proxy.url))
    result = nested_pivot.pivot(client, name, TWO_SOCKETS)
    assert result.applied and gone not in result.plan.consumers
    assert seed.allocations(http, gone)['allocations'] == {}
    before = seed.totals(http, vms[1:])
    seed.assert_pivoted(http, root, name, TWO_SOCKETS, before)


def test_refusal_carries_placements_code_and_detail(http, fault_proxy):
    name = seed.unique('fpga')
    root = seed.flat_node(http, name, {'VCPU': {'total': 4}})
    rc = 'CUSTOM_' + uuidlib.uuid4().hex.upper()
    layout = nested_pivot.Layout(
        [nested_pivot.Child('fpga0', inventory={rc: 1})]
    )

    def delete_class(method: str, path: str) -> None:
        if _reshapes(method, path):
            seed.call(http, 'DELETE', f'/resource_classes/{rc}')

    fault_proxy.before_forward = delete_class
    client = PlacementClient(harness.http_placement(fault_proxy.url))
    with pytest.raises(exception.ReshapeRejected, match=rc) as err:
        nested_pivot.pivot(client, name, layout)
    assert err.value.status == 400 and err.value.error_code
    inventories = {
        p['name']: set(
            seed.call(
                http, 'GET', f'/resource_providers/{p["uuid"]}/inventories'
            )['inventories']
        )
        for p in seed.tree(http, root)
    }
    assert inventories == {name: {'VCPU'}, f'{name}_fpga0': set()}


@pytest.mark.every_backend(
    "a concurrent claimer: the database's locking and generations")
def test_concurrent_claimer_thread_every_allocation_accounted(
    http, fault_proxy
):
    """The scheduler claims on the flat node while the pivot runs: right
    before each of the pivot's first two reshapes (each then meets a
    conflict and is re-planned with the new claim), and once after it,
    when the root has no VCPU left and Placement refuses the claim."""
    name, root, vms = two_socket_host(http, 20)
    claimed: list[str] = []

    def claim(method: str, path: str) -> None:
        if _reshapes(method, path) and len(claimed) < 2:
            consumer = str(uuidlib.uuid4())
            seed.allocate(http, consumer, {root: CLAIM})
            claimed.append(consumer)

    fault_proxy.before_forward = claim
    before = seed.totals(http, vms)
    result = nested_pivot.pivot(
        PlacementClient(
            harness.http_placement(fault_proxy.url),
            backoff=0.01,
            conflict_retries=10,
        ),
        name,
        TWO_SOCKETS,
    )
    assert not fault_proxy.hook_errors
    assert result.applied and result.retries == 2
    seed.assert_pivoted(http, root, name, TWO_SOCKETS, before)
    assert claimed
    assert seed.totals(http, claimed) == dict.fromkeys(claimed, CLAIM)
    late = str(uuidlib.uuid4())
    seed.call(
        http,
        'PUT',
        f'/allocations/{late}',
        {
            'allocations': {root: {'resources': CLAIM}},
            'project_id': str(uuidlib.UUID(int=1)),
            'user_id': str(uuidlib.UUID(int=2)),
            'consumer_generation': None,
            'consumer_type': 'INSTANCE',
        },
        ok=(409,),
    )


@pytest.mark.every_backend(
    "trait conflicts: the database's generations")
def test_child_traits_that_never_stop_conflicting_fail_the_pivot(
    http, fault_proxy
):
    """A writer that changes a child's traits before every one of the
    pivot's trait PUTs: the pivot reports ConcurrentUpdate, and does not
    call itself applied with the children's traits missing."""
    name, root, _ = two_socket_host(http, 2)
    seed.call(http, 'PUT', '/traits/CUSTOM_OTHER_WRITER')

    def race(method: str, path: str) -> None:
        if method == 'PUT' and path.endswith('/traits') and root not in path:
            rp = path.split('/resource_providers/')[1].split('/')[0]
            body = seed.call(http, 'GET', f'/resource_providers/{rp}/traits')
            traits = set(body['traits']) ^ {'CUSTOM_OTHER_WRITER'}
            seed.call(
                http,
                'PUT',
                f'/resource_providers/{rp}/traits',
                {
                    'traits': sorted(traits),
                    'resource_provider_generation': body[
                        'resource_provider_generation'
                    ],
                },
            )

    fault_proxy.before_forward = race
    client = PlacementClient(
        harness.http_placement(fault_proxy.url), backoff=0.01,
        conflict_retries=2
    )
    with pytest.raises(exception.ConcurrentUpdate, match='traits'):
        nested_pivot.pivot(client, name, TWO_SOCKETS)
    assert not fault_proxy.hook_errors


@pytest.mark.every_backend(
    "a concurrent pivot: the database's isolation")
def test_node_pivoted_between_reads_of_its_providers_is_read_again(
        http, fault_proxy):
    """A read torn by another writer's reshape is read again.

    The root's allocations are read before the other writer's reshape and
    the children's after it, so the torn view holds each instance twice:
    40 instances that do not fit the children twice over.  Planned on, it
    fails the node with "do not fit"; read again, it is pivoted already.
    """
    name, root, vms = two_socket_host(http)
    before = seed.totals(http, vms)
    # The children exist, empty: a first reshape failed.
    fault_proxy.fail_next(1, status=502, match=_reshapes)
    with pytest.raises(exception.PlacementUnavailable):
        nested_pivot.pivot(PlacementClient(
            harness.http_placement(fault_proxy.url), max_retries=0,
            conflict_retries=0), name, TWO_SOCKETS)
    children = [p['uuid'] for p in seed.tree(http, root) if p['uuid'] != root]

    def reads_a_child(method: str, path: str) -> bool:
        return method == 'GET' and any(
            path.startswith(f'/resource_providers/{c}/') for c in children)

    fault_proxy.before_forward, raced = other_writer_first(
        http, name, reads_a_child)
    fault_proxy.clear_log()
    # One provider at a time, root first: the root is read whole before
    # the race, the children after it.
    client = PlacementClient(harness.http_placement(fault_proxy.url),
                             max_concurrency=1, backoff=0.01)
    result = nested_pivot.pivot(client, name, TWO_SOCKETS)
    assert not fault_proxy.hook_errors
    assert raced and raced[0].applied and len(raced[0].plan.consumers) == 40
    assert not result.applied and result.plan.is_noop
    assert fault_proxy.count('POST', '/reshaper') == 0
    # Listed before and after each read: two reads.
    assert fault_proxy.count('GET', f'/resource_providers?in_tree={root}') == 4
    seed.assert_pivoted(http, root, name, TWO_SOCKETS, before)


@pytest.mark.every_backend(
    "another writer's reshape: the database's generations")
def test_reshape_answered_400_after_another_writers_is_re_read(
        http, fault_proxy):
    """Placement may answer a reshape that lost a race with another
    writer's with 400 "No inventory of class VCPU found" (seen on
    PostgreSQL), not 409.  The node changed since it was read, so the pivot
    re-reads it and finds it pivoted, instead of failing the node."""
    name, root, vms = two_socket_host(http, 4)
    before = seed.totals(http, vms)
    fault_proxy.before_forward, raced = other_writer_first(http, name)
    fault_proxy.answer_next(1, 400, 'malformed reshaper data: No inventory '
                            'of class VCPU found.', match=_reshapes)
    client = PlacementClient(harness.http_placement(fault_proxy.url),
                             backoff=0.01)
    result = nested_pivot.pivot(client, name, TWO_SOCKETS)
    assert not fault_proxy.hook_errors
    assert raced and raced[0].applied
    assert result.retries == 1 and not result.applied
    assert fault_proxy.count('POST', '/reshaper') == 1
    seed.assert_pivoted(http, root, name, TWO_SOCKETS, before)


@pytest.mark.every_backend(
    "concurrent changes: the database's isolation")
def test_node_that_changes_during_every_read_fails_untouched(
        http, fault_proxy):
    """A node written to during each of its reads is never planned on:
    after ``conflict_retries`` re-reads the pivot fails with
    ConcurrentUpdate,
    naming the node and the provider that kept changing, and writes
    nothing."""
    name, root, vms = two_socket_host(http, 4)
    claims: list[str] = []

    def claim(method: str, path: str) -> None:
        if method == 'GET' and path.startswith(
                f'/resource_providers?in_tree={root}'):
            claims.append(str(uuidlib.uuid4()))
            seed.allocate(http, claims[-1], {root: CLAIM})

    fault_proxy.before_forward = claim
    client = PlacementClient(harness.http_placement(fault_proxy.url),
                             backoff=0.01, conflict_retries=2)
    with pytest.raises(exception.ConcurrentUpdate) as err:
        nested_pivot.pivot(client, name, TWO_SOCKETS)
    assert not fault_proxy.hook_errors
    assert err.value.code == errors.CONCURRENT_UPDATE
    assert f'Node {name} kept changing' in str(err.value)
    assert f'changed while being read: {name}' in str(err.value)
    assert 'reported a concurrent update 3 times' in str(err.value)
    # Three reads, each listed twice; nothing written.
    assert len(claims) == 6
    assert fault_proxy.count('POST') == fault_proxy.count('PUT') == 0
    assert [p['uuid'] for p in seed.tree(http, root)] == [root]
    assert all(set(seed.allocations(http, vm)['allocations']) == {root}
               for vm in vms)
