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

"""Other services' providers and operators' traits survive pivots and
rollbacks against real Placement (in process and on the server)."""

from __future__ import annotations

import nested_pivot
from nested_pivot import layouts
from nested_pivot.placement import NodeState
from tests.functional import seed
from tests.functional.test_pivot import client_for
from tests.functional.test_pivot import FLAT_TWO_SOCKETS
from tests.functional.test_pivot import TWO_SOCKETS

BANDWIDTH = {
    'NET_BW_EGR_KILOBIT_PER_SEC': {'total': 10000},
    'NET_BW_IGR_KILOBIT_PER_SEC': {'total': 10000},
}


def test_neutron_provider_and_operator_trait_survive(placement):
    name = seed.unique('own')
    root = seed.flat_node(placement, name, FLAT_TWO_SOCKETS)
    bridge = seed.child(
        placement, root, f'{name}:Open vSwitch agent:br-ex', BANDWIDTH,
        ['CUSTOM_PHYSNET_PUBLIC'])
    vms = seed.instances(
        placement, root, 4, {'VCPU': 2, 'MEMORY_MB': 1024, 'DISK_GB': 10})
    generation = seed.allocations(placement, vms[0])['consumer_generation']
    seed.allocate(placement, vms[0], {
        root: {'VCPU': 2, 'MEMORY_MB': 1024, 'DISK_GB': 10},
        bridge: {'NET_BW_EGR_KILOBIT_PER_SEC': 1000}}, generation=generation)
    before = seed.totals(placement, vms)
    foreign = seed.foreign_state(placement, bridge)
    client = client_for(placement)

    assert nested_pivot.status(client, name, TWO_SOCKETS).state is \
        NodeState.FLAT
    result = nested_pivot.pivot(client, name, TWO_SOCKETS)
    assert result.applied and bridge in result.plan.foreign
    assert seed.foreign_state(placement, bridge) == foreign
    assert seed.totals(placement, vms) == before

    numa0 = next(p['uuid'] for p in seed.tree(placement, root)
                 if p['name'] == f'{name}_NUMA0')
    seed.add_traits(placement, numa0, 'CUSTOM_GOLD')
    assert nested_pivot.status(client, name, TWO_SOCKETS).state is \
        NodeState.PIVOTED
    assert not nested_pivot.pivot(client, name, TWO_SOCKETS).applied
    traits = seed.call(placement, 'GET',
                       f'/resource_providers/{numa0}/traits')['traits']
    assert set(traits) == {'HW_NUMA_ROOT', 'CUSTOM_GOLD'}

    back = nested_pivot.pivot(client, name, TWO_SOCKETS.flat())
    assert back.applied and len(back.plan.removed) == 2
    assert {p['uuid'] for p in seed.tree(placement, root)} == {root, bridge}
    assert seed.foreign_state(placement, bridge) == foreign
    assert seed.totals(placement, vms) == before


def test_managed_physnet_trait_is_replaced(placement):
    name = seed.unique('phys')
    root = seed.flat_node(placement, name, {'SRIOV_NET_VF': {'total': 8}})
    client = client_for(placement)
    old = layouts.sriov([layouts.PhysicalFunction('ens1', 'net1', 8)])
    new = layouts.sriov([layouts.PhysicalFunction('ens1', 'net2', 8)])
    nested_pivot.pivot(client, name, old)
    pf = next(p['uuid'] for p in seed.tree(placement, root)
              if p['uuid'] != root)
    seed.add_traits(placement, pf, 'CUSTOM_FAST')
    assert nested_pivot.pivot(client, name, new).applied
    traits = seed.call(placement, 'GET',
                       f'/resource_providers/{pf}/traits')['traits']
    assert set(traits) == {'CUSTOM_PHYSNET_NET2', 'CUSTOM_FAST'}
