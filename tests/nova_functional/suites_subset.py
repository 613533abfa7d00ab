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

"""CI's share of nova's suites (``tox -e nova``, on nova 34 only: the
tests are nova 34's; ``tox -e nova-suites`` runs them whole): the ported
tests, from
:mod:`tests.nova_functional.suites`, that each defect of several concerns
on one host made fail, and the negative control.

- Ownership per concern: vGPU, SEV and PCI on one host (the SEV concern
  removed the pGPUs), and the PCPU concern with PCI devices in placement
  (it removed the device providers inside ``instance_claim``).
- A device allocation never changes device on its own: PCI devices
  reconfigured or gone from the hypervisor while allocated.
- Capacity below usage: nova's one-time-use devices (``reserved = total``
  while allocated).
- The root's exact traits (ProviderTreeTests.test_reshape); one child and
  trait per memory-encryption model (SEV-SNP appearing at a restart);
  pGPUs the driver stops reporting kept as they are (a vGPU live
  migration between hosts with different mdev types); partial heals of
  PCI allocations.
- No needless ReshapeNeeded: a fresh compute with dedicated CPUs and no
  instance, whose PCPU concern must not ask for one
  (:class:`FreshDedicatedCompute`); and nova's fake driver moving the
  root's VCPU and MEMORY_MB onto new cells in a periodic update, on a
  host without instances (ProviderTreeTests.test_update_provider_tree_
  multiple_providers), which the hook applies at once from Placement's
  usages.
- The negative control: nova's own reshape code with its hand-written
  movers guarded fails each of nova's test_reshape tests (3/3).
"""

from __future__ import annotations

from typing import Any
import unittest

from tests.nova_functional import libvirt_port
from tests.nova_functional.pci_port import summary  # noqa: F401 - printed after the counts
from tests.nova_functional.suites import test_numa_servers

SUITES = 'tests.nova_functional.suites.'

TESTS = (
    'test_vgpu_sev_pci.PortedVGPUSevPciTests',
    'test_pci_sriov_servers.PCIServersTest.'
    'test_create_server_with_pci_dev_and_numa',
    'test_pci_sriov_servers.PCIServersWithRequiredNUMATest.'
    'test_create_server_with_pci_dev_and_numa_placement_conflict',
    'test_pci_in_placement.PlacementPCIInventoryReportingTests.'
    'test_device_reconfiguration_with_allocations_config_change_warn',
    'test_pci_in_placement.PlacementPCIInventoryReportingTests.'
    'test_device_reconfiguration_with_allocations_hyp_change',
    'test_pci_in_placement.RCAndTraitBasedPCIAliasTests.'
    'test_one_time_use_workflow',
    'test_pci_in_placement.RCAndTraitBasedPCIAliasTests.'
    'test_otu_configured_late',
    'test_pci_in_placement.PlacementPCIAllocationHealingTests.'
    'test_heal_partial_allocations',
    'test_servers_provider_tree.ProviderTreeTests.test_reshape',
    'test_servers_provider_tree.ProviderTreeTests.'
    'test_update_provider_tree_multiple_providers',
    'test_amd_sev.TestSEV.test_sev_snp_detected_after_restart',
    'test_vgpu.VGPULiveMigrationTests.'
    'test_live_migration_fails_due_to_non_supported_mdev_types',
    'test_reshape.NegativeControl',
)
"""The ported tests CI runs, under :data:`SUITES`."""


class FreshDedicatedCompute(test_numa_servers.NUMAServersTest):
    """nova's test, unchanged; afterwards, the PCPU concern was called and
    never raised ReshapeNeeded: the compute started with no instance, so
    no consumer had to change."""

    def setUp(self) -> None:
        super().setUp()
        self.addCleanup(self._asked_for_nothing,
                        libvirt_port.CALLS['pcpu'],
                        libvirt_port.CALLS['pcpu needed'])

    def _asked_for_nothing(self, calls: int, needed: int) -> None:
        self.assertGreater(libvirt_port.CALLS['pcpu'], calls)
        self.assertEqual(needed, libvirt_port.CALLS['pcpu needed'])


def load_tests(loader: unittest.TestLoader, tests: Any,
               pattern: Any) -> unittest.TestSuite:
    suite = unittest.TestSuite(
        loader.loadTestsFromName(SUITES + name) for name in TESTS)
    suite.addTest(FreshDedicatedCompute(
        'test_create_server_with_dedicated_policy'))
    return suite
