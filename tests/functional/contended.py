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

"""A fleet whose nodes' pivots meet: every instance also holds disk on one
sharing provider, and neighbouring nodes share a migration consumer.
Pivots of different nodes in worker processes then write the same
provider and the same consumers.

Run in a process of its own (Placement configures one database per
process)::

    python -m tests.functional.contended seed URL PREFIX COUNT
    python -m tests.functional.contended totals URL PREFIX   # JSON
"""

from __future__ import annotations

import itertools
import json
import sys
from typing import Any
import uuid as uuidlib

from tests.functional import fleet
from tests.functional import harness
from tests.functional import seed

FLAT = {'VCPU': {'total': 32, 'allocation_ratio': 2.0},
        'MEMORY_MB': {'total': 32768, 'reserved': 512},
        'DISK_GB': {'total': 1000}}


def seed_fleet(adapter: Any, prefix: str, count: int) -> None:
    roots = [seed.flat_node(adapter, f'{prefix}-numa-{i:03d}', FLAT)
             for i in range(count)]
    share = seed.sharing_provider(adapter, f'{prefix}-share', 100_000, roots)
    for root in roots:
        for _ in range(4):
            seed.allocate(adapter, str(uuidlib.uuid4()), {
                root: {'VCPU': 2, 'MEMORY_MB': 2048},
                share: {'DISK_GB': 10}})
    for here, there in itertools.pairwise(roots):
        seed.allocate(adapter, str(uuidlib.uuid4()), {
            here: {'VCPU': 1, 'MEMORY_MB': 1024},
            there: {'VCPU': 1, 'MEMORY_MB': 1024}},
            consumer_type='MIGRATION')


def totals(adapter: Any, prefix: str) -> dict[str, Any]:
    """Per consumer of the fleet: its total per class, and the classes
    each provider's children and root now hold."""
    consumers: set[str] = set()
    for root in fleet.roots(adapter, prefix):
        for provider in seed.tree(adapter, root):
            held = seed.call(adapter, 'GET', f'/resource_providers/'
                             f'{provider["uuid"]}/allocations')
            consumers.update(held['allocations'])
    return {'consumers': seed.totals(adapter, sorted(consumers))}


if __name__ == '__main__':
    mode, url, prefix = sys.argv[1:4]
    conf = harness.configure_database(url)
    with harness.direct_placement(conf) as placement:
        if mode == 'seed':
            seed_fleet(placement, prefix, int(sys.argv[4]))
        else:
            print(json.dumps(totals(placement, prefix)))
