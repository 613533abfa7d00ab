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

"""A fleet of flat compute nodes of mixed shapes, and its layout file.

Used by the CLI tests against the HTTP server (in process), and run as a
script to seed an offline SQLite database in a process of its own
(Placement configures one database per process)::

    python -m tests.functional.fleet sqlite:////tmp/x.db PREFIX COUNT
"""

from __future__ import annotations

import fnmatch
import sys
from typing import Any

from tests.functional import harness
from tests.functional import seed

SHAPES = ('numa', 'sriov', 'gpu', 'plain')

LAYOUTS = """\
layouts:
  - match: "{p}-numa-*"
    children:
      - name: NUMA0
        inventory:
          VCPU: {{total: 16, allocation_ratio: 2.0}}
          MEMORY_MB: {{total: 16384, reserved: 256}}
        traits: [HW_NUMA_ROOT]
      - name: NUMA1
        inventory:
          VCPU: {{total: 16, allocation_ratio: 2.0}}
          MEMORY_MB: {{total: 16384, reserved: 256}}
        traits: [HW_NUMA_ROOT]
  - match: "{p}-sriov-*"
    children:
      - name: pf0
        inventory: {{SRIOV_NET_VF: {{total: 4}}}}
        traits: [CUSTOM_PHYSNET_PHYSNET1]
      - name: pf1
        inventory: {{SRIOV_NET_VF: {{total: 4}}}}
        traits: [CUSTOM_PHYSNET_PHYSNET1]
  - match: "{p}-gpu-*"
    children:
      - name: pci_0000_84_00_0
        inventory: {{VGPU: {{total: 4}}}}
      - name: pci_0000_85_00_0
        inventory: {{VGPU: {{total: 4}}}}
  - match: "{p}-ratios-*"
    children:
      - name: PINNED
        inventory: {{VCPU: {{total: 16, allocation_ratio: 1.0}}}}
      - name: SHARED
        inventory: {{VCPU: {{total: 16, allocation_ratio: 4.0}}}}
  - match: "{p}-tight-*"
    children:
      - name: NUMA0
        inventory: {{VCPU: 4, MEMORY_MB: 8192}}
      - name: NUMA1
        inventory: {{VCPU: 4, MEMORY_MB: 8192}}
"""


def layouts(prefix: str) -> str:
    return LAYOUTS.format(p=prefix)


def node(adapter: Any, name: str, shape: str) -> list[str]:
    """One flat node of ``shape`` with its instances; their uuids."""
    if shape == 'numa':
        root = seed.flat_node(adapter, name, {
            'VCPU': {'total': 32, 'allocation_ratio': 2.0},
            'MEMORY_MB': {'total': 32768, 'reserved': 512},
            'DISK_GB': {'total': 1000}})
        return seed.instances(adapter, root, 6, {
            'VCPU': 4, 'MEMORY_MB': 4096, 'DISK_GB': 20})
    if shape == 'sriov':
        root = seed.flat_node(adapter, name, {
            'VCPU': {'total': 32}, 'SRIOV_NET_VF': {'total': 8}})
        return (seed.instances(adapter, root, 3, {'VCPU': 2,
                                                  'SRIOV_NET_VF': 2})
                + seed.instances(adapter, root, 3, {'VCPU': 2}))
    if shape == 'gpu':
        root = seed.flat_node(adapter, name, {
            'VGPU': {'total': 8}, 'VCPU': {'total': 16}})
        return seed.instances(adapter, root, 5, {'VGPU': 1, 'VCPU': 1},
                              consumer_type=None)
    if shape == 'ratios':  # for cells of different allocation ratios
        root = seed.flat_node(adapter, name, {
            'VCPU': {'total': 32, 'allocation_ratio': 2.0,
                     'reserved': 1}})
        return seed.instances(adapter, root, 4, {'VCPU': 3})
    if shape == 'tight':
        root = seed.flat_node(adapter, name, {
            'VCPU': {'total': 12}, 'MEMORY_MB': {'total': 16384}})
        return seed.instances(adapter, root, 3, {'VCPU': 3,
                                                 'MEMORY_MB': 1024})
    root = seed.flat_node(adapter, name, {'DISK_GB': {'total': 100}})
    return seed.instances(adapter, root, 1, {'DISK_GB': 5})


def fleet(adapter: Any, prefix: str, count: int) -> dict[str, list[str]]:
    """``count`` nodes cycling through the shapes; node -> instances."""
    result = {}
    for i in range(count):
        shape = SHAPES[i % len(SHAPES)]
        name = f'{prefix}-{shape}-{i:03d}'
        result[name] = node(adapter, name, shape)
    return result


def roots(adapter: Any, prefix: str) -> list[str]:
    """The root providers of the fleet ``prefix``."""
    listing = seed.call(adapter, 'GET', '/resource_providers')
    return [p['uuid'] for p in listing['resource_providers']
            if p['name'].startswith(prefix + '-')
            and p['uuid'] == p['root_provider_uuid']]


def aggregate(adapter: Any, uuid: str, pattern: str) -> None:
    """Put every root provider whose name matches ``pattern`` into the
    aggregate ``uuid``."""
    listing = seed.call(adapter, 'GET', '/resource_providers')
    for p in listing['resource_providers']:
        if (p['uuid'] == p['root_provider_uuid']
                and fnmatch.fnmatchcase(p['name'], pattern)):
            seed.aggregate(adapter, p['uuid'], uuid)


def _main(connection: str, prefix: str, count: int) -> None:
    """Seed ``count`` nodes, then one per extra argument SHAPE=NAME, or
    put the nodes matching GLOB into an aggregate: aggregate=UUID:GLOB."""
    conf = harness.configure_database(connection)
    with harness.direct_placement(conf) as adapter:
        if count:
            fleet(adapter, prefix, count)
        for extra in sys.argv[4:]:
            shape, _, name = extra.partition('=')
            if shape == 'aggregate':
                uuid, _, pattern = name.partition(':')
                aggregate(adapter, uuid, pattern)
            else:
                node(adapter, name, shape)


if __name__ == '__main__':
    _main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
