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

"""nova's libvirt/test_reshape.py (vGPU and SEV reshapes), through the
port; and the negative control: nova's own code with only the guards on
fails every one of these tests, each because a guard fired."""

from __future__ import annotations

import unittest

from nova.tests.functional.libvirt import test_reshape as nova_reshape
import testtools

from tests.nova_functional import libvirt_port
from tests.nova_functional.libvirt_port import Hooked
from tests.nova_functional.libvirt_port import summary  # noqa: F401 - printed after the counts


class VGPUReshapeTests(Hooked, nova_reshape.VGPUReshapeTests):
    pass


class SevResphapeTests(Hooked, nova_reshape.SevResphapeTests):
    pass


def _guarded(cls: type, name: str, concern: str) -> unittest.TestCase:
    """nova's test ``name`` of ``cls``, with only the guards of the
    concern's allocation movers on (a class made here, so that the loader
    does not collect it)."""
    guarded = type(f'Guarded{cls.__name__}', (libvirt_port.GuardedOnly, cls),
                   {'GUARDED': libvirt_port.MOVERS[concern]})
    return guarded(name)  # type: ignore[no-any-return]


class NegativeControl(testtools.TestCase):
    """nova's unmodified reshape code, with the guards of its allocation
    movers on, must fail: each nova test runs and fails, and the guard of
    nova's hand-written mover records that it was called."""

    def _fails(self, case: unittest.TestCase) -> list[str]:
        del libvirt_port.CALLED[:]
        result = unittest.TestResult()
        case.run(result)
        self.assertEqual(1, result.testsRun)
        self.assertEqual(1, len(result.errors + result.failures),
                         f'{case.id()} passed with the guards on')
        return list(libvirt_port.CALLED)

    def test_vgpu_guard_fires(self) -> None:
        called = self._fails(_guarded(nova_reshape.VGPUReshapeTests,
                                      'test_create_servers_with_vgpu',
                                      'vgpu'))
        self.assertEqual(['_reshape_gpu_resources'], called[:1])

    def test_sev_guard_fires(self) -> None:
        called = self._fails(_guarded(nova_reshape.SevResphapeTests,
                                      'test_create_servers_with_amd_sev',
                                      'memory_encryption'))
        self.assertEqual(['_reshape_memory_encryption_resources'],
                         called[:1])

    def test_sev_mixed_guard_fires(self) -> None:
        called = self._fails(_guarded(
            nova_reshape.SevResphapeTests,
            'test_create_servers_with_amd_sev_mixed', 'memory_encryption'))
        self.assertEqual(['_reshape_memory_encryption_resources'],
                         called[:1])
