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

"""nova's libvirt/test_numa_servers.py through the port: the PCPU concern
(VCPU to PCPU for pinned instances and their migrations) on every compute
with ``cpu_dedicated_set``."""

from nova.tests.functional.libvirt import test_numa_servers as nova_numa

from tests.nova_functional.libvirt_port import Hooked
from tests.nova_functional.libvirt_port import summary  # noqa: F401 - printed after the counts


class NUMAServersTest(Hooked, nova_numa.NUMAServersTest):
    pass


class NUMAServerTestWithCountingQuotaFromPlacement(
        Hooked, nova_numa.NUMAServerTestWithCountingQuotaFromPlacement):
    pass


class ReshapeForPCPUsTest(Hooked, nova_numa.ReshapeForPCPUsTest):
    pass


class NUMAServersWithNetworksTest(Hooked,
                                  nova_numa.NUMAServersWithNetworksTest):
    pass


class NUMAServersRebuildTests(Hooked, nova_numa.NUMAServersRebuildTests):
    pass
