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

"""vGPU, SEV and PCI in placement on one host: not a test of nova's, but
written in nova's harness the way nova's tests are.

:class:`VGPUSevPciTests` runs nova's own code (its libvirt driver's
reshapes and its PCI-in-placement translator): the baseline.
:class:`PortedVGPUSevPciTests` inherits its tests unchanged and runs them
with the libvirt driver's three concerns through nested_pivot
(:mod:`tests.nova_functional.libvirt_port`) and the PCI translator's
writers through it too (:mod:`tests.nova_functional.pci_port`): four
concerns, one Hook each, on one compute node.
"""

from __future__ import annotations

import copy
from typing import Any

import fixtures
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.tests.functional.libvirt import test_pci_sriov_servers as nova_pci
from nova.tests.functional.libvirt import test_vgpu as nova_vgpu
import os_resource_classes as orc
import os_traits
from oslo_serialization import jsonutils
from oslo_utils.fixture import uuidsentinel as uuids

from tests.nova_functional import libvirt_port
from tests.nova_functional import pci_port
from tests.nova_functional.pci_port import summary  # noqa: F401 - printed after the counts
from tests.nova_functional.test_pivot import wsgi_paste

HOST = 'host1'
MEC = orc.MEM_ENCRYPTION_CONTEXT


class VGPUSevPciTests(nova_vgpu.VGPUTestBase, nova_pci._PCIServersTestBase):
    """Two pGPUs (nvidia-11), AMD SEV and two PCI devices reported in
    placement, on one host: every concern keeps its children, and each
    instance's allocation stays on its own device, across restarts and a
    SEV reshape."""

    ADMIN_API = True
    microversion = 'latest'
    PCI_DEVICE_SPEC = [jsonutils.dumps({
        'vendor_id': fakelibvirt.PCI_VEND_ID,
        'product_id': fakelibvirt.PCI_PROD_ID})]
    PCI_ALIAS = [jsonutils.dumps({
        'vendor_id': fakelibvirt.PCI_VEND_ID,
        'product_id': fakelibvirt.PCI_PROD_ID, 'name': 'a-pci-dev'})]

    def setUp(self) -> None:
        wsgi_paste(self)
        super().setUp()
        self.flags(report_in_placement=True, group='pci')
        self.flags(pci_in_placement=True, group='filter_scheduler')
        self.flags(enabled_mdev_types=fakelibvirt.NVIDIA_11_VGPU_TYPE,
                   group='devices')
        self.useFixture(fixtures.MockPatchObject(
            fakelibvirt.virConnect, '_domain_capability_features',
            new=fakelibvirt.virConnect._domain_capability_features_with_SEV))
        self.useFixture(fixtures.MockPatch(
            'nova.virt.libvirt.driver.LibvirtDriver.'
            '_guest_configure_mem_encryption'))
        sev_image = copy.deepcopy(self.glance.image1)
        sev_image['id'] = uuids.sev_image
        sev_image['properties'].update(
            hw_machine_type='q35', hw_firmware_type='uefi',
            hw_mem_encryption=True)
        self.glance.create(None, sev_image)
        # SEV's guests get a flavor of their own: the harness's default
        # is the first flavor the API lists, which may be one of these.
        self.sev_flavor = self._create_flavor()
        self.vgpu_flavor = self._create_flavor(
            extra_spec={'resources:VGPU': '1'})
        self.pci_flavor = self._create_flavor(
            extra_spec={'pci_passthrough:alias': 'a-pci-dev:1'})
        self.pci_info = fakelibvirt.HostPCIDevicesInfo(
            num_pci=2, num_pfs=0, num_vfs=0, num_mdevcap=2)

    # -- helpers --------------------------------------------------------------

    def _boot(self, kind: str) -> Any:
        if kind == 'sev':
            return self._create_server(
                image_uuid=uuids.sev_image, flavor_id=self.sev_flavor,
                host=HOST, networks='none')
        flavor = self.vgpu_flavor if kind == 'vgpu' else self.pci_flavor
        return self._create_server(
            image_uuid='155d900f-4e14-4e4c-a73d-069cbf4541e6',
            flavor_id=flavor, host=HOST, networks='none')

    def _providers(self) -> dict[str, dict[str, Any]]:
        """The node's providers by name: inventory and usages."""
        root = self._get_provider_uuid_by_name(HOST)
        return {rp['name']: {
            'uuid': rp['uuid'],
            'inventory': self._get_provider_inventory(rp['uuid']),
            'usages': self._get_provider_usages(rp['uuid']),
            'traits': set(self._get_provider_traits(rp['uuid']))}
            for rp in self._get_all_rps_in_a_tree(root)}

    def _assert_tree(self, vgpus: int, contexts: int, devices: int) -> None:
        """Each concern's children are there, with their usage; the root
        carries none of their classes."""
        providers = self._providers()
        self.assertFalse({orc.VGPU, MEC, self.PCI_RC}
                         & set(providers[HOST]['inventory']))
        pgpus = {n: p for n, p in providers.items()
                 if orc.VGPU in p['inventory']}
        self.assertEqual(2, len(pgpus), sorted(providers))
        self.assertTrue(all(n.startswith(f'{HOST}_pci_') for n in pgpus))
        self.assertEqual(vgpus, sum(p['usages'][orc.VGPU]
                                    for p in pgpus.values()))
        self.assert_mdev_usage(self.computes[HOST], expected_amount=vgpus)
        sev = providers[f'{HOST}_amd_sev']
        self.assertIn(os_traits.HW_CPU_X86_AMD_SEV, sev['traits'])
        self.assertEqual(contexts, sev['usages'][MEC])
        pci = {n: p for n, p in providers.items()
               if self.PCI_RC in p['inventory']}
        self.assertEqual({f'{HOST}_0000:81:00.0', f'{HOST}_0000:81:01.0'},
                         set(pci))
        self.assertEqual(devices, sum(p['usages'][self.PCI_RC]
                                      for p in pci.values()))
        self.assertPCIDeviceCounts(HOST, total=2, free=2 - devices)

    # -- tests ----------------------------------------------------------------

    def test_all_concerns_on_one_host(self) -> None:
        self.libvirt.amd_sev.sev = True
        self.start_compute_with_vgpu(HOST, self.pci_info)
        self._assert_tree(vgpus=0, contexts=0, devices=0)
        for kind in ('vgpu', 'sev', 'pci'):
            self._boot(kind)
        self._assert_tree(vgpus=1, contexts=1, devices=1)

        self.restart_compute_service(HOST)
        self._assert_tree(vgpus=1, contexts=1, devices=1)
        for kind in ('vgpu', 'sev', 'pci'):
            self._boot(kind)
        self._run_periodics()
        self._assert_tree(vgpus=2, contexts=2, devices=2)

    def test_sev_reshape_keeps_vgpu_and_pci(self) -> None:
        """SEV's contexts on the root (the layout before 2025.2) move to
        their child at the restart that enables SEV; the pGPUs and the PCI
        devices, with their instances' allocations, stay as they are."""
        self.start_compute_with_vgpu(HOST, self.pci_info)
        vgpu_server = self._boot('vgpu')
        pci_server = self._boot('pci')
        root = self._get_provider_uuid_by_name(HOST)
        inventories = self.placement.get(
            f'/resource_providers/{root}/inventories').body
        inventories['inventories'][MEC] = {
            'allocation_ratio': 1.0, 'max_unit': 1, 'min_unit': 1,
            'reserved': 0, 'step_size': 1, 'total': 100}
        self.placement.put(f'/resource_providers/{root}/inventories',
                           inventories)
        self._set_provider_traits(root, [
            *self._get_provider_traits(root), os_traits.HW_CPU_X86_AMD_SEV])
        # As nova's SevResphapeTests: the driver must not see the old tree
        # before the restart that reshapes it.
        with fixtures.MockPatch('nova.virt.libvirt.driver.LibvirtDriver.'
                                'update_provider_tree'):
            sev_server = self._boot('sev')
        before = {s['id']: self._get_allocations_by_server_uuid(s['id'])
                  for s in (vgpu_server, pci_server)}
        self.assertEqual(1, self._get_provider_usages(root)[MEC])

        self.libvirt.amd_sev.sev = True
        self.restart_compute_service(HOST)

        self._assert_tree(vgpus=1, contexts=1, devices=1)
        sev_rp = self._get_provider_uuid_by_name(f'{HOST}_amd_sev')
        self.assertEqual({MEC: 1}, self._get_allocations_by_server_uuid(
            sev_server['id'])[sev_rp]['resources'])
        for server, allocations in before.items():
            self.assertEqual(
                {rp: a['resources'] for rp, a in allocations.items()},
                {rp: a['resources'] for rp, a in
                 self._get_allocations_by_server_uuid(server).items()})
        for kind in ('vgpu', 'sev', 'pci'):
            self._boot(kind)
        self._assert_tree(vgpus=2, contexts=2, devices=2)


class _Ported:
    """The libvirt driver's concerns and the PCI concern through
    nested_pivot, from the start of nova's setUp."""

    def setUp(self) -> None:
        self.useFixture(libvirt_port.Port())  # type: ignore[attr-defined]
        self.useFixture(pci_port.Port())  # type: ignore[attr-defined]
        super().setUp()  # type: ignore[misc]


class PortedVGPUSevPciTests(_Ported, VGPUSevPciTests):
    pass
