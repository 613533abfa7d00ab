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

"""Children made under another name (a PF named after its interface by an
older ``discover``) are renamed in place on real Placement: the same
provider, its generation, inventory, traits and allocations untouched."""

from __future__ import annotations

import pytest

import nested_pivot
from nested_pivot import exception
from nested_pivot import layouts
from nested_pivot.placement import PlacementClient
from tests.functional import seed

FLAT = {'VCPU': {'total': 16}, 'MEMORY_MB': {'total': 32768},
        'SRIOV_NET_VF': {'total': 16}}
BY_INTERFACE = layouts.sriov([
    layouts.PhysicalFunction('ens1f0', 'physnet1', 8),
    layouts.PhysicalFunction('ens1f1', 'physnet1', 8)])
BY_ADDRESS = layouts.sriov([
    layouts.PhysicalFunction('ens1f0', 'physnet1', 8,
                             address='0000:3b:00.0'),
    layouts.PhysicalFunction('ens1f1', 'physnet1', 8,
                             address='0000:3b:00.1')])


def _provider(adapter, uuid):
    body = seed.call(adapter, 'GET', f'/resource_providers/{uuid}')
    inventory = seed.call(adapter, 'GET',
                          f'/resource_providers/{uuid}/inventories')
    traits = seed.call(adapter, 'GET', f'/resource_providers/{uuid}/traits')
    return {'name': body['name'], 'generation': body['generation'],
            'parent': body['parent_provider_uuid'],
            'inventory': inventory['inventories'],
            'traits': sorted(traits['traits'])}


def test_pfs_named_by_interface_are_renamed_in_place(placement):
    """Fails when switching a node to address-based names re-creates its
    PF children (new uuids, allocations moved, a partial node meanwhile)
    instead of renaming them."""
    name = seed.unique('rename')
    root = seed.flat_node(placement, name, FLAT)
    vms = seed.instances(placement, root, 2, {'VCPU': 1, 'SRIOV_NET_VF': 1})
    client = PlacementClient(placement, backoff=0.01)
    nested_pivot.pivot(client, name, BY_INTERFACE,
                       hints={vms[0]: {'SRIOV_NET_VF': 'ens1f0'},
                              vms[1]: {'SRIOV_NET_VF': 'ens1f1'}})
    pfs = {n: seed.call(placement, 'GET',
                        f'/resource_providers?name={name}_{n}')
           ['resource_providers'][0]['uuid'] for n in ('ens1f0', 'ens1f1')}
    before = {u: _provider(placement, u) for u in pfs.values()}
    held = {vm: seed.record(placement, vm) for vm in vms}

    status = nested_pivot.status(client, name, BY_ADDRESS)
    assert status.state == 'partial'
    assert status.plan is not None and status.plan.renamed == {
        pfs['ens1f0']: f'{name}_pci_0000_3b_00_0',
        pfs['ens1f1']: f'{name}_pci_0000_3b_00_1'}
    result = nested_pivot.pivot(client, name, BY_ADDRESS)
    assert result.applied and not result.plan.created
    assert not result.plan.removed and not result.plan.consumers

    for iface, uuid in pfs.items():
        after = _provider(placement, uuid)
        address = {'ens1f0': '0000:3b:00.0', 'ens1f1': '0000:3b:00.1'}[iface]
        assert after == dict(before[uuid], name=f'{name}_pci_' + address
                             .replace(':', '_').replace('.', '_'))
    assert {vm: seed.record(placement, vm) for vm in vms} == held
    assert nested_pivot.status(client, name, BY_ADDRESS).state == 'pivoted'
    assert nested_pivot.pivot(client, name, BY_ADDRESS).plan.is_noop


def test_a_new_name_taken_elsewhere_changes_nothing(placement):
    """Fails when a rename onto a name another node's provider holds is
    attempted (Placement would refuse it halfway)."""
    name = seed.unique('rename')
    root = seed.flat_node(placement, name, FLAT)
    client = PlacementClient(placement, backoff=0.01)
    nested_pivot.pivot(client, name, BY_INTERFACE)
    seed.flat_node(placement, f'{name}_pci_0000_3b_00_0', {})
    snapshot = seed.tree(placement, root)
    with pytest.raises(exception.ProviderNameClash,
                       match=f'{name}_pci_0000_3b_00_0 of node {name}: '
                             'the name is taken') as err:
        nested_pivot.pivot(client, name, BY_ADDRESS)
    assert seed.tree(placement, root) == snapshot
    # The rename's PUT, found before it was sent: no status answered.
    assert err.value.kwargs['method'] == 'PUT'
    assert err.value.kwargs['url'].startswith('/resource_providers/')
    assert err.value.status is None
