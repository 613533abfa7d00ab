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
and healing their allocations) and the libvirt driver's concerns; and the
negative control: nova's own translator with the guard of one of its
writers on fails a test that needs that writer."""

from __future__ import annotations

import unittest

from nova.tests.functional.libvirt import test_pci_in_placement as nova_pip
import testtools

from tests.nova_functional import pci_port
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


def _guarded(cls: type, name: str, writer: str) -> unittest.TestCase:
    """nova's test ``name`` of ``cls``, with only the guard of ``writer``
    on (a class made here, so that the loader does not collect it)."""
    guarded = type(f'Guarded{cls.__name__}', (pci_port.GuardedOnly, cls),
                   {'GUARDED': (writer,)})
    return guarded(name)  # type: ignore[no-any-return]


class NegativeControl(testtools.TestCase):
    """nova's unmodified translator, with the guard of one of its writers
    on, must fail: the nova test runs and fails, and the guard records
    that nova's writer was called."""

    def _fails(self, cls: type, name: str, writer: str) -> None:
        del pci_port.CALLED[:]
        result = unittest.TestResult()
        _guarded(cls, name, writer).run(result)
        self.assertEqual(1, result.testsRun)
        self.assertEqual(1, len(result.errors + result.failures),
                         f'{name} passed with the guard of {writer} on')
        self.assertEqual([writer], pci_port.CALLED[:1])

    def test_tree_writer_guard_fires(self) -> None:
        self._fails(nova_pip.PlacementPCIInventoryReportingTests,
                    'test_new_compute_init_with_pci_devs',
                    'PciResourceProvider.update_provider_tree')

    def test_removal_guard_fires(self) -> None:
        self._fails(nova_pip.PlacementPCIInventoryReportingTests,
                    'test_remove_pci',
                    'PlacementView._remove_managed_rps_from_tree_not_in_view')

    def test_allocation_writer_guard_fires(self) -> None:
        self._fails(nova_pip.PlacementPCIAllocationHealingTests,
                    'test_heal_single_pci_allocation',
                    'PciResourceProvider.update_allocations')
