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

"""The audit's judgement, without I/O: which consumers are findings,
what nova's word on each is, what ``--fix`` may remove, and which amounts
are held without inventory.  The real reads are tested in tests/nova_db."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st
import pytest

from nested_pivot.audit import model
from nested_pivot.audit.model import State
from nested_pivot.novadb.consumers import Instance
from nested_pivot.novadb.consumers import Known
from nested_pivot.novadb.consumers import Migration
from nested_pivot.novadb.consumers import NodeConsumers

NODE = NodeConsumers(name='cmp-a', host='cmp-a', cell='cell1',
                     instances=frozenset({'i-live'}),
                     moves={'m-in-progress': 'i-moving'})
PROVIDERS = ('root', 'numa0', 'numa1', 'neutron')
CLASSES = ('VCPU', 'MEMORY_MB', 'DISK_GB', 'NET_BW_EGR_KILOBIT_PER_SEC')
CONSUMERS = ('i-live', 'm-in-progress', 'i-moving', 'c1', 'c2', 'c3')

holdings = st.dictionaries(
    st.sampled_from(CONSUMERS),
    st.dictionaries(st.sampled_from(PROVIDERS),
                    st.dictionaries(st.sampled_from(CLASSES),
                                    st.integers(0, 4), min_size=1),
                    min_size=1))


@given(holdings)
def test_candidates_are_exactly_the_unaccounted_holders(held):
    """Fails when a live instance of the node, a move's migration or its
    instance is a finding, or a consumer holding something that nova does
    not account for is not."""
    found = model.candidates(held, NODE)
    assert not set(found) & NODE.protected
    assert set(found) == {c for c, where in held.items()
                          if c not in NODE.protected
                          and any(n for r in where.values()
                                  for n in r.values())}
    assert found == sorted(found)


def _instance(**values: object) -> Instance:
    found = Instance(uuid='c1', deleted=False, host='cmp-b', node='cmp-b',
                     vm_state='active', task_state=None)
    return dataclasses.replace(found, **values)  # type: ignore[arg-type]


def _migration(**values: object) -> Migration:
    found = Migration(uuid='c1', instance='i-9', status='confirmed',
                      kind='resize', source_node='cmp-a', dest_node='cmp-b')
    return dataclasses.replace(found, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize('known, state, words', [
    (Known('c1', _instance(deleted=True, vm_state='deleted')),
     State.DELETED, 'instance deleted'),
    (Known('c1', _instance(deleted=True, hidden=True)), State.BUSY,
     'cross-cell'),
    (Known('c1', _instance()), State.ELSEWHERE, 'host cmp-b'),
    (Known('c1', _instance(host=None, node=None,
                           vm_state='shelved_offloaded')),
     State.ELSEWHERE, 'on no host'),
    (Known('c1', _instance(host=None, node=None, task_state='spawning')),
     State.BUSY, 'task spawning'),
    (Known('c1', _instance(host='cmp-a', node='cmp-a')), State.BUSY,
     'just arrived'),
    (Known('c1', _instance(hidden=True)), State.BUSY, 'cross-cell'),
    (Known('c1', _instance(uuid='i-9', deleted=True), _migration()),
     State.DELETED, 'resize confirmed'),
    (Known('c1', _instance(uuid='i-9'), _migration()),
     State.STALE_MIGRATION, 'not in progress on this node'),
    (Known('c1', _instance(uuid='i-9', task_state='resize_prep'),
           _migration()), State.BUSY, 'in task resize_prep'),
    (Known('c1', None, _migration()), State.STALE_MIGRATION,
     'which nova does not have'),
    (Known('c1', building=True, api=True), State.BUSY, 'being booted'),
    (Known('c1', api=True), State.UNKNOWN, "nova's API database"),
    (Known('c1'), State.UNKNOWN, 'the cell database read'),
])
def test_nova_word_on_each_consumer(known, state, words):
    """Fails when nova's record of a consumer is read as the wrong state
    (a deleted instance as busy, a booting one as unknown, ...), or the
    line that says so does not name why."""
    found, said = model.judge('c1', known, NODE)
    assert found is state
    assert words in said


findings = st.builds(
    lambda held, known, owned, unknown_fixable: model.finding(
        'c1', held, 3, known, NODE, owned, unknown_fixable=unknown_fixable),
    st.dictionaries(st.sampled_from(PROVIDERS),
                    st.dictionaries(st.sampled_from(CLASSES),
                                    st.integers(0, 3), min_size=1),
                    min_size=1),
    st.sampled_from([Known('c1', _instance(deleted=True)), Known('c1'),
                     Known('c1', _instance()),
                     Known('c1', _instance(task_state='spawning')),
                     Known('c1', building=True, api=True)]),
    st.frozensets(st.sampled_from(PROVIDERS)),
    st.booleans())


@given(findings)
def test_fix_only_ever_removes_what_it_may(found):
    """Fails when --fix may clear a provider nested_pivot does not own
    or one the consumer holds nothing on, or may remove a busy consumer,
    or an unknown one where a boot looks the same, or a finding said to
    be left alone has no reason."""
    assert found.removable <= set(found.held)
    assert all(any(found.held[p].values()) for p in found.removable)
    if found.fixable:
        assert found.removable and not found.why_not
        assert found.state is not State.BUSY
    else:
        assert found.why_not
    if found.state is State.BUSY:
        assert not found.fixable


@given(holdings, st.dictionaries(st.sampled_from(PROVIDERS),
                                 st.frozensets(st.sampled_from(CLASSES))))
def test_strays_are_the_amounts_held_without_inventory(held, inventories):
    """Fails when an amount held on a provider without inventory of its
    class is missed, or one with inventory is called a stray."""
    found = model.strays(inventories, held)
    expected = {(p, c, rc, n) for c, where in held.items()
                for p, r in where.items() if p in inventories
                for rc, n in r.items() if n and rc not in inventories[p]}
    assert {(s.provider, s.consumer, s.resource_class, s.amount)
            for s in found} == expected
    assert len(found) == len(expected)
