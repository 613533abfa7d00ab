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

"""One name per device, whatever the source of facts: a node pivoted with
its PFs named after their interfaces (an older ``discover``), then from
nova's facts, has its PF children renamed in place, not re-created."""

from __future__ import annotations

import json

import yaml

from tests.nova_db import cells as nova
from tests.nova_db.test_from_nova import cli
from tests.nova_db.test_from_nova import flat_root
from tests.nova_db.test_from_nova import FLOATING
from tests.nova_db.test_from_nova import placement

PFS = {'0000:3b:00.0': (0, 4), '0000:af:00.0': (1, 4)}


def test_pfs_named_by_interface_are_renamed_from_nova(tmp_path):
    """Fails when switching from interface names to nova's facts removes
    the PF children and creates new ones (the node partial meanwhile, its
    VF allocations moved) instead of renaming them."""
    nova_db = f'sqlite:///{tmp_path}/nova.db'
    placement_db = f'sqlite:///{tmp_path}/placement.db'
    cell = nova.NovaCell(nova_db)
    host = cell.node('pf-a', [(4, 4, 8192), (4, 4, 8192)], pfs=PFS)
    users = {address: cell.instance('pf-a', vfs={address: 1})
             for address in PFS}
    placement('seed', placement_db, {'nodes': {'pf-a': {
        'inventory': flat_root(host, vfs=8),
        'consumers': {u: {'resources': dict(FLOATING, SRIOV_NET_VF=1)}
                      for u in users.values()}}}})
    by_interface = tmp_path / 'old.yaml'
    interfaces = {'0000:3b:00.0': 'ens1f0', '0000:af:00.0': 'ens1f1'}
    by_interface.write_text(yaml.safe_dump({'layouts': [{
        'match': 'pf-a', 'children': [
            {'name': 'NUMA0', 'inventory': {'VCPU': 4, 'MEMORY_MB': 8192}},
            {'name': 'NUMA1', 'inventory': {'VCPU': 4, 'MEMORY_MB': 8192}},
            *({'name': interfaces[a], 'parent': f'NUMA{numa}',
               'inventory': {'SRIOV_NET_VF': vfs}}
              for a, (numa, vfs) in PFS.items())],
        'hints': {'pf-a': {u: {'SRIOV_NET_VF': interfaces[a]}
                           for a, u in users.items()}}}]}))
    state = ['--state-dir', str(tmp_path / 'state'),
             '--placement-db', placement_db]
    old = cli('apply', 'pf-a', '--yes', '--layouts', str(by_interface),
              *state)
    assert old.returncode == 0, old.stdout + old.stderr
    before = placement('dump', placement_db)

    planned = cli('plan', 'pf-a', '--json', '--nova-db', nova_db, *state)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    plan = json.loads(planned.stdout)['nodes'][0]
    renamed = {e['from']: e['to'] for e in plan['renamed'].values()}
    assert renamed == {'pf-a_ens1f0': 'pf-a_pci_0000_3b_00_0',
                       'pf-a_ens1f1': 'pf-a_pci_0000_af_00_0'}
    assert plan['consumers'] == []

    applied = cli('apply', 'pf-a', '--yes', '--nova-db', nova_db, *state)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    after = placement('dump', placement_db)
    for iface, address in (('ens1f0', '3b'), ('ens1f1', 'af')):
        was = before['providers'][f'pf-a_{iface}']
        now = after['providers'][f'pf-a_pci_0000_{address}_00_0']
        assert now['uuid'] == was['uuid']
        assert now['inventory'] == was['inventory']
        assert now['parent'] == was['parent']
    for address, user in users.items():
        name = 'pf-a_pci_' + address.replace(':', '_').replace('.', '_')
        assert after['consumers'][user]['allocations'][name] == {
            'SRIOV_NET_VF': 1}
    assert {c: e['allocations']
            for c, e in after['consumers'].items()} == {
        c: {p.replace('ens1f0', 'pci_0000_3b_00_0').replace(
            'ens1f1', 'pci_0000_af_00_0'): r
            for p, r in e['allocations'].items()}
        for c, e in before['consumers'].items()}

    # Without any layout, a rollback removes the children nested_pivot
    # made, the renamed ones too (their uuids come from their old names;
    # the journal says what they were renamed).
    back = cli('rollback', 'pf-a', '--yes', '--layouts',
               str(tmp_path / 'none.yaml'), *state)
    assert back.returncode == 0, back.stdout + back.stderr
    flat = placement('dump', placement_db)
    assert set(flat['providers']) == {'pf-a'}
    assert set(flat['providers']['pf-a']['inventory']) >= {
        'SRIOV_NET_VF', 'VCPU', 'MEMORY_MB'}
