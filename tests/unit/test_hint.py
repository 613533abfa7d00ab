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

"""Typed hints (nested_pivot.hint): the one parser of the dict form, its
writer, and plans that do not care which form a driver used."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
import pytest

import nested_pivot
from nested_pivot import exception
from nested_pivot import hint
from nested_pivot import layouts
from nested_pivot.engine import facts
from nested_pivot.hint import Convert
from nested_pivot.hint import Correct
from nested_pivot.hint import Heal
from nested_pivot.hint import Place
from nested_pivot.hint import Split
from tests.unit import helpers as h


@pytest.mark.parametrize('form,typed', [
    ('cell0', (Place('cell0'),)),
    ({'VCPU': 'cell1'}, (Place('cell1', 'VCPU'),)),
    ({'MEMORY_MB': {'cell0': 1, 'cell1': 2}},
     (Split('MEMORY_MB', {'cell0': 1, 'cell1': 2}),)),
    ({'convert': {'VCPU': 'PCPU'}}, (Convert('VCPU', 'PCPU'),)),
    ({'heal': {'SRIOV_NET_VF': 1}}, (Heal('SRIOV_NET_VF', 1),)),
    ({'heal': {'SRIOV_NET_VF': {'pf0': 1}}},
     (Heal('SRIOV_NET_VF', {'pf0': 1}),)),
    ({'correct': {'CUSTOM_PCI_X': {'0000:81:00.0': 2}}},
     (Correct('CUSTOM_PCI_X', {'0000:81:00.0': 2}),)),
    ({'VCPU': 'cell1', 'convert': {'VCPU': 'PCPU'}},
     (Place('cell1', 'VCPU'), Convert('VCPU', 'PCPU'))),
    ({}, ()),
])
def test_each_dict_form_parses_to_its_type_and_back(form, typed):
    """Fails when the parser and the writer of the dict form disagree on
    one of its forms."""
    assert hint.parse({'c': form}) == {'c': typed}
    assert hint.as_dict({'c': typed}) == {'c': form}
    assert hint.parse({'c': typed}) == {'c': typed}


@pytest.mark.parametrize('form,match', [
    (42, 'expected a child or a mapping, not 42'),
    ({'VCPU': 5}, r'VCPU: expected a child or \{child: amount\}'),
    ({'VCPU': {}}, r'VCPU: expected a child or \{child: amount\}'),
    ({'convert': {'VCPU': 'VCPU'}}, 'convert: expected'),
    ({'convert': 'PCPU'}, 'convert: expected'),
    ({'heal': {'vf': 1}}, 'heal: expected'),
    ({'correct': {'CUSTOM_X': {'a': -1}}}, 'correct: expected'),
    ([Place('a'), 'b'], 'expected a child or a mapping'),
])
def test_a_malformed_hint_names_its_consumer_and_the_form(form, match):
    with pytest.raises(exception.InvalidHint, match=match) as err:
        hint.parse({'vm-7': form})
    assert 'vm-7' in str(err.value)


def test_hints_are_a_mapping():
    with pytest.raises(exception.InvalidHint, match='must be a mapping'):
        hint.parse([Place('a')])  # type: ignore[arg-type]
    assert hint.parse(None) == {}


UNHOLDABLE = [
    ((Place('a'), Convert('VCPU', 'PCPU')), 'every class on a goes with '
                                            'no other hint'),
    ((Place('a', 'VCPU'), Split('VCPU', {'b': 1})), 'VCPU: two hints'),
    ((Heal('VCPU', 1), Heal('VCPU', 2)), 'VCPU: two hints'),
]
"""Typed hints of one consumer that no dict form holds, and why."""


@pytest.mark.parametrize('typed,match', UNHOLDABLE)
def test_typed_hints_the_dict_form_cannot_hold_are_refused(typed, match):
    with pytest.raises(exception.InvalidHint, match=match):
        hint.as_dict({'c': typed})


CLASSES = st.sampled_from(['VCPU', 'PCPU', 'MEMORY_MB', 'SRIOV_NET_VF',
                           'CUSTOM_PCI_X'])
CHILDREN = st.sampled_from(['cell0', 'cell1', 'pf0', 'cn1_NUMA0'])
AMOUNTS = st.dictionaries(CHILDREN, st.integers(1, 64), min_size=1)


@st.composite
def typed_hints(draw: Any) -> tuple[hint.Hint, ...]:
    """Valid hints of one consumer: at most one per class and form."""
    found: list[hint.Hint] = []
    for rc in draw(st.sets(CLASSES, max_size=3)):
        found.append(draw(st.one_of(
            st.builds(Place, CHILDREN, st.just(rc)),
            st.builds(Split, st.just(rc), AMOUNTS))))
    for rc in draw(st.sets(CLASSES, max_size=2)):
        found.append(Convert(rc, draw(CLASSES.filter(rc.__ne__))))
    for rc in draw(st.sets(CLASSES, max_size=2)):
        found.append(Heal(rc, draw(st.one_of(st.integers(1, 4), AMOUNTS))))
    for rc in draw(st.sets(CLASSES, max_size=2)):
        found.append(Correct(rc, draw(AMOUNTS)))
    return tuple(found)


@given(st.dictionaries(st.sampled_from(['a', 'b', 'c']), typed_hints()))
def test_the_dict_form_holds_typed_hints_exactly(hints):
    """Fails when writing typed hints in the dict form and parsing them
    back loses, adds or changes one."""
    again = hint.parse(hint.as_dict(hints))
    assert again == {c: tuple(t) for c, t in hints.items()}
    assert hint.as_dict(again) == hint.as_dict(hints)


SRIOV = layouts.sriov([
    layouts.PhysicalFunction('pf0', 'physnet-a', 8, numa_node=0),
    layouts.PhysicalFunction('pf1', 'physnet-a', 8, numa_node=1)])


def _planned(hints: dict[str, Any]) -> tuple[Any, Any]:
    inventory = {'VCPU': {'total': 32}, 'MEMORY_MB': {'total': 65536},
                 'SRIOV_NET_VF': {'total': 16}}
    tree, root = h.flat_node(inventory=inventory)
    vm = h.consumer('vf', {root: {'VCPU': 2, 'MEMORY_MB': 1024,
                                  'SRIOV_NET_VF': 2}})
    allocs = h.allocations(vm)
    nested_pivot.reshape(tree, allocs, layout=SRIOV,
                         hints={h.uuid('vf'): v for v in hints.values()})
    return h.snapshot(tree), copy.deepcopy(allocs)


def test_a_plan_is_the_same_from_typed_hints_and_from_the_dict_form():
    """Fails when the engine reads a typed hint otherwise than its dict
    form: a driver may use either."""
    split = {'vf': {'SRIOV_NET_VF': {'pf0': 1, 'cn1_pf1': 1}}}
    typed = {'vf': Split('SRIOV_NET_VF', {'pf0': 1, 'cn1_pf1': 1})}
    tree, allocs = _planned(typed)
    assert (tree, allocs) == _planned(split)
    [consumer] = allocs
    vfs = {rp: res['SRIOV_NET_VF']
           for rp, res in h.on(allocs, consumer).items()
           if 'SRIOV_NET_VF' in res}
    assert sorted(vfs.values()) == [1, 1]  # one on each PF, as it says


@pytest.mark.parametrize('typed,match', UNHOLDABLE)
def test_the_engine_refuses_what_the_dict_form_refuses(typed, match):
    """Fails when the engine, which groups typed hints itself (no round
    trip through the dict form), accepts what the dict form refuses."""
    with pytest.raises(exception.InvalidHint, match=match):
        facts.split({'c': typed})


@given(st.dictionaries(st.sampled_from(['a', 'b', 'c']), typed_hints()))
def test_the_engine_splits_typed_hints_as_their_dict_form(hints):
    """Fails when the engine's split of typed hints differs from its
    split of the same hints in the dict form."""
    assert facts.split(hints) == facts.split(hint.as_dict(hints))


def test_a_consumers_hints_group_by_kind():
    """Fails when :func:`hint.group` loses a kind or mixes them."""
    grouped = hint.group('c', (Place('cell1', 'VCPU'),
                               Split('MEMORY_MB', {'cell0': 1}),
                               Convert('VCPU', 'PCPU'), Heal('VGPU', 1),
                               Correct('CUSTOM_X', {'pf0': 2})))
    assert grouped == hint.Grouped(
        {'VCPU': 'cell1', 'MEMORY_MB': {'cell0': 1}}, {'VCPU': 'PCPU'},
        {'VGPU': 1}, {'CUSTOM_X': {'pf0': 2}})
    assert hint.group('c', (Convert('VCPU', 'PCPU'),)).placement is None
    assert hint.group('c', (Place('cell0'),)).placement == 'cell0'
