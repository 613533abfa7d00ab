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

"""nova's libvirt/test_pci_sriov_servers.py through the port: the PCI
concern where a test turns ``[pci] report_in_placement`` on, and the
libvirt driver's concerns (PCPU for the tests with dedicated CPUs)."""

from nova.tests.functional.libvirt import test_pci_sriov_servers as nova_pci

from tests.nova_functional.pci_port import Hooked
from tests.nova_functional.pci_port import summary  # noqa: F401 - printed after the counts


class SRIOVServersTest(Hooked, nova_pci.SRIOVServersTest):
    pass


class SRIOVAttachDetachTest(Hooked, nova_pci.SRIOVAttachDetachTest):
    pass


class VDPAServersTest(Hooked, nova_pci.VDPAServersTest):
    pass


class PCIServersTest(Hooked, nova_pci.PCIServersTest):
    pass


class PCIResourceRequestReschedulingTest(
        Hooked, nova_pci.PCIResourceRequestReschedulingTest):
    pass


class PCIServersWithPreferredNUMATest(
        Hooked, nova_pci.PCIServersWithPreferredNUMATest):
    pass


class PCIServersWithRequiredNUMATest(
        Hooked, nova_pci.PCIServersWithRequiredNUMATest):
    pass


class PCIServersWithSRIOVAffinityPoliciesTest(
        Hooked, nova_pci.PCIServersWithSRIOVAffinityPoliciesTest):
    pass


class PCIServersWithPortNUMAPoliciesTest(
        Hooked, nova_pci.PCIServersWithPortNUMAPoliciesTest):
    pass


class RemoteManagedServersTest(Hooked, nova_pci.RemoteManagedServersTest):
    pass


class TestPackNUMACellsWithPCIDevices(
        Hooked, nova_pci.TestPackNUMACellsWithPCIDevices):
    pass
