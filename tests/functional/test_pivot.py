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

"""nested_pivot.pivot() and status() against real Placement, on both
backends: in process (PlacementDirect on SQLite) and a gunicorn server on
PostgreSQL."""

from __future__ import annotations

from typing import Any
import uuid as uuidlib

import pytest

import nested_pivot
from nested_pivot import Child
from nested_pivot import exception
from nested_pivot import Layout
from nested_pivot import layouts
from nested_pivot.placement import NodeState
from nested_pivot.placement import PlacementClient
from nested_pivot.placement import writes
from tests.functional import seed

TWO_SOCKETS = layouts.numa(
    [
        layouts.NumaCell(
            vcpu={'total': 32, 'allocation_ratio': 4.0},
            memory_mb={'total': 65536, 'reserved': 512},
        ),
        layouts.NumaCell(
            vcpu={'total': 32, 'allocation_ratio': 4.0},
            memory_mb={'total': 65536, 'reserved': 512},
        ),
    ]
)
FLAT_TWO_SOCKETS = {
    'VCPU': {'total': 64, 'allocation_ratio': 4.0},
    'MEMORY_MB': {'total': 131072, 'reserved': 1024},
    'DISK_GB': {'total': 2000},
}


def client_for(adapter: Any) -> PlacementClient:
    return PlacementClient(adapter, backoff=0.01)


def two_socket_host(
    adapter: Any, count: int = 40
) -> tuple[str, str, list[str]]:
    name = seed.unique('cn')
    root = seed.flat_node(adapter, name, FLAT_TWO_SOCKETS)
    vms = seed.instances(
        adapter, root, count, {'VCPU': 4, 'MEMORY_MB': 2048, 'DISK_GB': 20}
    )
    return name, root, vms


def test_two_socket_host_with_40_instances(placement):
    name, root, vms = two_socket_host(placement)
    before = seed.totals(placement, vms)
    client = client_for(placement)
    assert nested_pivot.status(client, name, TWO_SOCKETS).state == 'flat'
    result = nested_pivot.pivot(client, name, TWO_SOCKETS)
    assert result.applied and result.retries == 0
    assert len(result.plan.consumers) == 40
    seed.assert_pivoted(placement, root, name, TWO_SOCKETS, before)
    for vm in vms:
        where = seed.allocations(placement, vm)['allocations']
        assert where[root]['resources'] == {'DISK_GB': 20}
    status = nested_pivot.status(client, name, TWO_SOCKETS)
    assert status.state is NodeState.PIVOTED and status.consumers == 0


def test_second_pivot_is_a_noop(placement):
    name, root, vms = two_socket_host(placement, 6)
    client = client_for(placement)
    nested_pivot.pivot(client, name, TWO_SOCKETS)
    before = seed.dump(placement, root, vms)
    again = nested_pivot.pivot(client, name, TWO_SOCKETS)
    assert not again.applied and again.plan.is_noop
    assert seed.dump(placement, root, vms) == before


def test_dry_run_changes_nothing(placement):
    name, root, vms = two_socket_host(placement, 8)
    before = seed.dump(placement, root, vms)
    result = nested_pivot.pivot(
        client_for(placement), name, TWO_SOCKETS, dry_run=True
    )
    assert not result.applied and len(result.plan.moves) == 16
    assert seed.dump(placement, root, vms) == before


def test_sriov_vfs_on_two_pfs(placement):
    name = seed.unique('sriov')
    root = seed.flat_node(
        placement,
        name,
        {
            'VCPU': {'total': 16},
            'MEMORY_MB': {'total': 32768},
            'SRIOV_NET_VF': {'total': 16},
        },
    )
    layout = layouts.sriov(
        [
            layouts.PhysicalFunction('pf0', 'physnet1', 8),
            layouts.PhysicalFunction('pf1', 'physnet2', 8),
        ]
    )
    two_vfs = seed.instances(
        placement, root, 2, {'VCPU': 1, 'SRIOV_NET_VF': 2}
    )
    plain = seed.instances(placement, root, 3, {'VCPU': 1})
    before = seed.totals(placement, two_vfs + plain)
    plain_before = {c: seed.record(placement, c) for c in plain}
    hints = {c: {'SRIOV_NET_VF': {'pf0': 1, 'pf1': 1}} for c in two_vfs}
    result = nested_pivot.pivot(
        client_for(placement), name, layout, hints=hints
    )
    assert result.plan.consumers == tuple(sorted(two_vfs))
    seed.assert_pivoted(placement, root, name, layout, before)
    for vm in two_vfs:
        per_rp = seed.allocations(placement, vm)['allocations']
        vfs = sorted(
            e['resources'].get('SRIOV_NET_VF', 0) for e in per_rp.values()
        )
        assert vfs == [0, 1, 1]
    assert {c: seed.record(placement, c) for c in plain} == plain_before


def test_pgpus_with_vgpu_instances_untyped_as_nova_writes_them(placement):
    name = seed.unique('gpu')
    root = seed.flat_node(
        placement, name, {'VGPU': {'total': 8}, 'VCPU': {'total': 8}}
    )
    layout = layouts.pgpu(
        [
            layouts.PhysicalGPU('pci_0000_84_00_0', 4),
            layouts.PhysicalGPU('pci_0000_85_00_0', 4),
        ]
    )
    vms = seed.instances(
        placement, root, 8, {'VGPU': 1, 'VCPU': 1}, consumer_type=None
    )
    before = seed.totals(placement, vms)
    nested_pivot.pivot(client_for(placement), name, layout)
    seed.assert_pivoted(placement, root, name, layout, before)


def test_sharing_provider_allocation_survives(placement):
    name, root, _ = two_socket_host(placement, 0)
    share = seed.sharing_provider(placement, seed.unique('nfs'), 1000, [root])
    vm = str(uuidlib.uuid4())
    seed.allocate(
        placement,
        vm,
        {root: {'VCPU': 2, 'MEMORY_MB': 1024}, share: {'DISK_GB': 40}},
    )
    before = seed.totals(placement, [vm])
    nested_pivot.pivot(client_for(placement), name, TWO_SOCKETS)
    seed.assert_pivoted(placement, root, name, TWO_SOCKETS, before)
    after = seed.allocations(placement, vm)['allocations']
    assert after[share]['resources'] == {'DISK_GB': 40}
    assert root not in after


def versions_sent(adapter: Any) -> list[tuple[str, str]]:
    """Watch the (url, microversion) of every request ``adapter`` sends.

    It only looks: the request still goes to the real Placement.
    """
    sent: list[tuple[str, str]] = []
    inner = adapter.request

    def request(url: str, method: str, *args: Any, **kwargs: Any) -> Any:
        header = (kwargs.get('headers') or {}).get('OpenStack-API-Version')
        sent.append((url, (header or '').removeprefix('placement ')))
        return inner(url, method, *args, **kwargs)

    adapter.request = request
    return sent


def test_pivot_reads_and_reshapes_below_consumer_types(placement):
    """A pivot needs no consumer type: reads below 1.38 spare Placement a
    query each, and the reshape at 1.37 leaves every type as it is."""
    name, root, vms = two_socket_host(placement, 3)
    migration = str(uuidlib.uuid4())
    seed.allocate(placement, migration, {root: {'VCPU': 2}},
                  consumer_type='MIGRATION')
    sent = versions_sent(placement)
    nested_pivot.pivot(client_for(placement), name, TWO_SOCKETS)
    movers = [v for url, v in sent
              if url.startswith('/allocations/') or url == '/reshaper']
    assert len(movers) == 5  # 4 consumer reads and the reshape
    assert set(movers) == {'1.37'}
    assert seed.allocations(placement, migration)['consumer_type'] == (
        'MIGRATION')
    assert seed.allocations(placement, vms[0])['consumer_type'] == 'INSTANCE'


def test_dry_run_shows_consumer_types(placement):
    name, root, vms = two_socket_host(placement, 1)
    migration = str(uuidlib.uuid4())
    seed.allocate(placement, migration, {root: {'VCPU': 2}},
                  consumer_type='MIGRATION')
    plan = nested_pivot.pivot(client_for(placement), name, TWO_SOCKETS,
                              dry_run=True).plan
    types = {c: r.consumer_type for c, r in plan.allocations.items()}
    assert types == {vms[0]: 'INSTANCE', migration: 'MIGRATION'}


def test_migration_consumer_moves_and_keeps_its_type(placement):
    name, root, vms = two_socket_host(placement, 2)
    migration = str(uuidlib.uuid4())
    seed.allocate(
        placement,
        migration,
        {root: {'VCPU': 4, 'MEMORY_MB': 2048}},
        consumer_type='MIGRATION',
    )
    before = seed.totals(placement, [*vms, migration])
    nested_pivot.pivot(client_for(placement), name, TWO_SOCKETS)
    seed.assert_pivoted(placement, root, name, TWO_SOCKETS, before)
    record = seed.allocations(placement, migration)
    assert record['consumer_type'] == 'MIGRATION'
    assert root not in record['allocations']


def test_rollback_to_flat(placement):
    name, root, vms = two_socket_host(placement, 10)
    originals = {c: seed.allocations(placement, c)['allocations'] for c in vms}
    client = client_for(placement)
    nested_pivot.pivot(client, name, TWO_SOCKETS)
    result = nested_pivot.pivot(client, name, Layout(children=[]))
    assert result.applied and len(result.plan.removed) == 2
    assert [p['uuid'] for p in seed.tree(placement, root)] == [root]
    for vm in vms:
        now = seed.allocations(placement, vm)['allocations']
        assert {rp: e['resources'] for rp, e in now.items()} == {
            rp: e['resources'] for rp, e in originals[vm].items()
        }
    inv = seed.call(
        placement, 'GET', f'/resource_providers/{root}/inventories'
    )['inventories']
    assert inv['VCPU']['total'] == 64 and inv['MEMORY_MB']['total'] == 131072


def test_crash_after_children_then_rerun_completes(placement):
    name, root, vms = two_socket_host(placement, 5)
    before = seed.totals(placement, vms)
    client = client_for(placement)
    plan = nested_pivot.pivot(client, name, TWO_SOCKETS, dry_run=True).plan
    writes.ensure_custom_names(client, plan)
    writes.create_children(client, plan)  # ... and the process dies here
    status = nested_pivot.status(client, name, TWO_SOCKETS)
    assert status.state is NodeState.PARTIAL and status.consumers == 5
    result = nested_pivot.pivot(client, name, TWO_SOCKETS)
    assert result.plan.created == ()  # the empty children are reused
    seed.assert_pivoted(placement, root, name, TWO_SOCKETS, before)
    assert {p['uuid'] for p in seed.tree(placement, root)} == {
        root,
        *(p.uuid for p in plan.created),
    }


def test_instances_that_do_not_fit_change_nothing(placement):
    name, root, vms = two_socket_host(placement, 3)
    tight = layouts.numa(
        [
            layouts.NumaCell(vcpu=4, memory_mb=8192),
            layouts.NumaCell(vcpu=4, memory_mb=8192),
        ]
    )
    extra = seed.instances(placement, root, 1, {'VCPU': 8})
    before = seed.dump(placement, root, vms + extra)
    with pytest.raises(exception.CannotPivot, match=name) as err:
        nested_pivot.pivot(client_for(placement), name, tight)
    assert set(err.value.unplaced) <= set(vms + extra)
    assert seed.dump(placement, root, vms + extra) == before


def test_name_clash_with_a_foreign_provider(placement):
    name, root, vms = two_socket_host(placement, 2)
    foreign = seed.flat_node(
        placement, f'{name}_NUMA0', {'VCPU': {'total': 1}}
    )
    before = seed.dump(placement, root, vms)
    with pytest.raises(exception.ProviderNameClash, match=foreign) as err:
        nested_pivot.pivot(client_for(placement), name, TWO_SOCKETS)
    assert seed.dump(placement, root, vms) == before
    # Found before the child's POST was sent: no status was answered.
    assert (err.value.kwargs['method'], err.value.status) == ('POST', None)


def test_node_by_uuid_and_unknown_node(placement):
    name, root, _ = two_socket_host(placement, 1)
    client = client_for(placement)
    assert nested_pivot.status(client, root, TWO_SOCKETS).node == name
    with pytest.raises(exception.NodeNotFound, match='no-such-node'):
        nested_pivot.status(client, 'no-such-node', TWO_SOCKETS)


def test_not_applicable_when_the_root_has_none_of_the_classes(placement):
    name = seed.unique('plain')
    seed.flat_node(placement, name, {'DISK_GB': {'total': 10}})
    gpus = layouts.pgpu([layouts.PhysicalGPU('pci_0000_01_00_0', 2)])
    status = nested_pivot.status(client_for(placement), name, gpus)
    assert status.state is NodeState.NOT_APPLICABLE


def test_custom_classes_and_traits_are_created(placement):
    name = seed.unique('fpga')
    root = seed.flat_node(placement, name, {'CUSTOM_FPGA': {'total': 2}})
    vm = seed.instances(placement, root, 1, {'CUSTOM_FPGA': 1})
    trait = 'CUSTOM_' + uuidlib.uuid4().hex.upper()
    layout = Layout(
        [Child('fpga0', inventory={'CUSTOM_FPGA': 2}, traits=[trait])]
    )
    before = seed.totals(placement, vm)
    nested_pivot.pivot(client_for(placement), name, layout)
    seed.assert_pivoted(placement, root, name, layout, before)


def test_cost_grows_with_movers_not_with_the_host(placement):
    """An SR-IOV pivot reads and rewrites only the instances with VFs."""
    counts = []
    for plain in (10, 40):
        name = seed.unique('cost')
        root = seed.flat_node(
            placement,
            name,
            {'VCPU': {'total': 128}, 'SRIOV_NET_VF': {'total': 8}},
        )
        movers = seed.instances(
            placement, root, 3, {'VCPU': 1, 'SRIOV_NET_VF': 1}
        )
        seed.instances(placement, root, plain, {'VCPU': 1})
        layout = layouts.sriov([layouts.PhysicalFunction('pf0', 'net', 8)])
        result = nested_pivot.pivot(client_for(placement), name, layout)
        assert result.plan.consumers == tuple(sorted(movers))
        counts.append(result.requests)
    assert counts[0] == counts[1]
