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

"""nova's libvirt/test_pci_in_placement.py through the port: the PCI
concern (nova's translator with nested_pivot writing the device providers
and healing their allocations) and the libvirt driver's concerns."""

from nova.tests.functional.libvirt import test_pci_in_placement as nova_pip

from tests.nova_functional.pci_port import Hooked
from tests.nova_functional.pci_port import summary  # noqa: F401 - printed after the counts


class PlacementPCIInventoryReportingTests(
        Hooked, nova_pip.PlacementPCIInventoryReportingTests):
    pass


class PlacementPCIAllocationHealingTests(
        Hooked, nova_pip.PlacementPCIAllocationHealingTests):
    pass


class SimpleRCAndTraitBasedPCIAliasTests(
        Hooked, nova_pip.SimpleRCAndTraitBasedPCIAliasTests):
    pass


class RCAndTraitBasedPCIAliasTests(
        Hooked, nova_pip.RCAndTraitBasedPCIAliasTests):
    pass
