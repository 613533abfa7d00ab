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

"""Placement's races with a reshape, one write at a time, on each real
server: the hazards the fleet soak counts (``doc/soak-hazards.md``),
reproduced without nested_pivot in the way.

Each round seeds a flat node (one root, ``CONSUMERS`` instances of 1 VCPU)
and an empty child, then sends one reshape that moves the VCPU inventory
and every instance to the child while one other write, started a seeded
random delay later, races it:

* ``bare-delete``: ``DELETE /allocations/{c}`` of one of the instances,
  as nova's ordinary delete sends it (no microversion).  Hazard 1: it can
  answer 204 while the reshape puts the instance's allocations back
  (counted as a leak).
* ``guarded-delete``: nova's delete of one of the instances (GET, then PUT
  of empty allocations with the consumer generation, retried on 409).
  Must never leak.
* ``claim``: a new instance claimed on the root (``PUT /allocations`` at
  1.36 with ``consumer_generation: null``).  Hazard 4: when the reshape
  wins, the claim must be refused (the root has no VCPU any more); on
  MariaDB it can be accepted, and the root then holds VCPU allocations
  without VCPU inventory.

Rounds per kind: ``$NESTED_PIVOT_RACE_ROUNDS`` (default 30).  Prints the
tally of (reshape status, racing write status, outcome) per kind; asserts
only that the guarded delete never leaks.
"""

from __future__ import annotations

from collections import Counter
import os
import random
import threading
import time
import uuid as uuidlib

import pytest

from tests.functional import harness
from tests.functional import seed
from tests.functional import soak

ROUNDS = int(os.environ.get('NESTED_PIVOT_RACE_ROUNDS', '30'))
CONSUMERS = 20
KINDS = ('bare-delete', 'guarded-delete', 'claim')


def _round(url: str, write: str, delay: float) -> tuple[int, int, str, float]:
    """One race; (reshape status, write status, outcome, reshape s)."""
    adapter = harness.http_placement(url)
    name = seed.unique('race')
    root = seed.flat_node(adapter, name, {'VCPU': {'total': 1000}})
    vms = seed.instances(adapter, root, CONSUMERS, {'VCPU': 1})
    child = seed.call(adapter, 'POST', '/resource_providers',
                      {'name': f'{name}_c', 'parent_provider_uuid': root},
                      mv='1.20')
    moving = {}
    for vm in vms:
        record = seed.call(adapter, 'GET', f'/allocations/{vm}', mv='1.28')
        moving[vm] = {
            'allocations': {child['uuid']: {'resources': {'VCPU': 1}}},
            'project_id': record['project_id'],
            'user_id': record['user_id'],
            'consumer_generation': record['consumer_generation']}
    generation = seed.call(adapter, 'GET',
                           f'/resource_providers/{root}')['generation']
    body = {'inventories': {
        root: {'resource_provider_generation': generation,
               'inventories': {}},
        child['uuid']: {'resource_provider_generation': child['generation'],
                        'inventories': {'VCPU': {'total': 1000}}}},
        'allocations': moving}
    target = vms[0] if write != 'claim' else str(uuidlib.uuid4())
    answer: list[int] = []

    def race() -> None:
        time.sleep(delay)
        other = harness.http_placement(url)
        if write == 'bare-delete':
            answer.append(soak.nova_delete(other, target, soak.Book()))
        elif write == 'guarded-delete':
            answer.append(soak.guarded_delete(other, target, 3, soak.Book()))
        else:
            resp = other.put(f'/allocations/{target}', json={
                'allocations': {root: {'resources': {'VCPU': 1}}},
                'project_id': soak.PROJECT, 'user_id': soak.USER,
                'consumer_generation': None}, microversion='1.36')
            answer.append(resp.status_code)

    thread = threading.Thread(target=race)
    thread.start()
    start = time.monotonic()
    reshaped = harness.http_placement(url).post(
        '/reshaper', json=body, microversion='1.30').status_code
    took = time.monotonic() - start
    thread.join()
    held = seed.call(adapter, 'GET', f'/allocations/{target}')['allocations']
    inventory = seed.call(adapter, 'GET', f'/resource_providers/{root}/'
                          f'inventories')['inventories']
    if write == 'claim':
        outcome = ('stray' if root in held and 'VCPU' not in inventory
                   else 'held' if held else 'refused')
    else:
        outcome = ('leaked' if answer[0] == 204 and held
                   else 'kept' if held else 'deleted')
    return reshaped, answer[0], outcome, took


@pytest.mark.parametrize('write', KINDS)
def test_write_racing_a_reshape(real_server, request, write):
    rng = random.Random(f'races:{write}')
    tally: Counter[tuple[int, int, str]] = Counter()
    took = 0.2
    # Deletes land anywhere from the reshape's start to its end; claims,
    # which do more before their transaction starts, in its second half
    # (where the reshape's own transaction runs).
    low = 0.4 if write == 'claim' else 0.0
    for _ in range(ROUNDS):
        reshaped, status, outcome, took = _round(
            real_server.url, write, rng.uniform(low, 1.1) * took)
        tally[reshaped, status, outcome] += 1
    lines = [f'races[{real_server.backend}] {write} racing a reshape, '
             f'{ROUNDS} rounds: ' + ', '.join(
                 f'{n}x reshape {r} / {write} {s} / {o}'
                 for (r, s, o), n in sorted(tally.items()))]
    soak.show(request, lines)
    if write == 'guarded-delete':
        assert not [k for k in tally if k[2] == 'leaked'], tally
