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

"""nova's libvirt/test_amd_sev.py through the port: one child per
memory-encryption model, each with its own trait."""

from nova.tests.functional.libvirt import test_amd_sev as nova_sev

from tests.nova_functional.libvirt_port import Hooked
from tests.nova_functional.libvirt_port import summary  # noqa: F401 - printed after the counts


class TestSEV(Hooked, nova_sev.TestSEV):
    pass
