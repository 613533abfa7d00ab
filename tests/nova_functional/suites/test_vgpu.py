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

"""nova's libvirt/test_vgpu.py through the port: pGPU children and their
mdev classes built by nested_pivot (one Hook for the vGPU concern)."""

from nova.tests.functional.libvirt import test_vgpu as nova_vgpu

from tests.nova_functional.libvirt_port import Hooked
from tests.nova_functional.libvirt_port import summary  # noqa: F401 - printed after the counts


class VGPUTests(Hooked, nova_vgpu.VGPUTests):
    pass


class VGPUMultipleTypesTests(Hooked, nova_vgpu.VGPUMultipleTypesTests):
    pass


class VGPULimitMultipleTypesTests(Hooked,
                                  nova_vgpu.VGPULimitMultipleTypesTests):
    pass


class VGPULiveMigrationTests(Hooked, nova_vgpu.VGPULiveMigrationTests):
    pass


class VGPULiveMigrationTestsLMFailed(
        Hooked, nova_vgpu.VGPULiveMigrationTestsLMFailed):
    pass


class DifferentMdevClassesTests(Hooked, nova_vgpu.DifferentMdevClassesTests):
    pass
