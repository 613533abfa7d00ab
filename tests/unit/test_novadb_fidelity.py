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

"""Building from nova's facts as nova behaves today: the cells not read,
moves in progress, the CPUs nova's scheduler asks, PF children made under
another name.  nova's side is typed values here; tests/nova_db reads them
from real cell databases."""

from __future__ import annotations

from typing import Any

import hypothesis
from hypothesis import strategies as st
import pytest

from nested_pivot.layout import Inventory
from nested_pivot.novadb import build
from nested_pivot.novadb import Consumer
from nested_pivot.novadb import Facts
from nested_pivot.novadb import GuestCell
from nested_pivot.novadb import HostCell
from nested_pivot.novadb import Node
from nested_pivot.novadb import NodeView
from nested_pivot.novadb import PfRecord
from nested_pivot.novadb.build import DeviceView
from nested_pivot.novadb.facts import CpuRequest
from nested_pivot.novadb.facts import Move

PF = '0000:af:00.0'
ISOLATE = CpuRequest(0, 3, 'f2', ('hw:cpu_policy=dedicated',
                                  'hw:emulator_threads_policy=isolate'))
PINNED = Consumer('e', 'e', cells=(GuestCell(1, 0, 3, 1024),),
                  request=ISOLATE)


def _node(*consumers: Consumer, cells: tuple[HostCell, ...] | None = None,
          pfs: tuple[PfRecord, ...] = ()) -> Node:
    return Node('n', 'h', 'cell1', cells or (HostCell(0, 4, 4, 8192),
                                             HostCell(1, 4, 4, 8192)),
                pfs=pfs, consumers={c.uuid: c for c in consumers})


def _facts(node: Node, **kwargs: Any) -> Facts:
    return Facts({node.name: node},
                 {c: frozenset([node.name]) for c in node.consumers},
                 **kwargs)


def _view(devices: dict[str, DeviceView] | None = None,
          **held: dict[str, int]) -> NodeView:
    inventory = {'VCPU': Inventory(8), 'PCPU': Inventory(8),
                 'MEMORY_MB': Inventory(16384), 'SRIOV_NET_VF': Inventory(8)}
    return NodeView(inventory, frozenset(inventory), held, devices or {})


def _rule(built: Any) -> Any:
    (rule,) = built.layouts.rules
    return rule


@pytest.mark.parametrize('held,converts', [
    ({'PCPU': 2, 'MEMORY_MB': 1024}, False),  # Train's reshape, 1 for 1
    ({'VCPU': 2, 'MEMORY_MB': 1024}, True),   # never reshaped
])
def test_an_isolated_emulator_thread_is_healed(held, converts):
    """Fails when a pinned instance holding one PCPU less than nova's
    scheduler asks for its flavor today is refused or left short."""
    built = build(_facts(_node(PINNED)), {'n': _view(e=held)})
    rule = _rule(built)
    assert rule.hints['n']['e']['PCPU'] == {'NUMA1': 3}
    assert ('convert' in rule.hints['n']['e']) is converts
    assert rule.layout.heals == frozenset(['PCPU'])
    [healed] = built.summary.healed
    assert (healed.consumer, dict(healed.before), dict(healed.after)) == (
        'e', {rc: n for rc, n in held.items() if rc != 'MEMORY_MB'},
        {'PCPU': 3})
    assert 'hw:emulator_threads_policy=isolate' in healed.why
    assert "Train's reshape" in healed.why
    line = built.summary.lines()
    assert any('healed: node n: instance e: ' in x and '-> 3' in x
               for x in line)


def test_holding_what_nova_asks_heals_nothing():
    built = build(_facts(_node(PINNED)), {'n': _view(
        e={'PCPU': 3, 'MEMORY_MB': 1024})})
    assert built.summary.healed == [] and _rule(built).layout.heals == set()


@pytest.mark.parametrize('request_,reason', [
    (CpuRequest(0, 2, 'f2', ('hw:cpu_policy=dedicated',)),
     "uses PCPU=3 in its NUMA topology in nova's cell database (NUMA1: 3)"
     ", but nova's scheduler asks PCPU=2 for flavor f2 with "
     'hw:cpu_policy=dedicated'),
    (CpuRequest(1, 2, 'f3', ('hw:cpu_policy=mixed',)),
     "nova's scheduler asks VCPU=1 PCPU=2 for flavor f3"),
])
def test_a_topology_nova_would_not_ask_refuses(request_, reason):
    consumer = Consumer('e', 'e', cells=PINNED.cells, request=request_)
    built = build(_facts(_node(consumer)), {'n': _view(
        e={'PCPU': 2, 'MEMORY_MB': 1024})})
    assert reason in built.summary.refused['n']


def test_more_than_nova_asks_still_refuses():
    built = build(_facts(_node(PINNED)), {'n': _view(
        e={'PCPU': 4, 'MEMORY_MB': 1024})})
    assert ("instance e holds PCPU=4 on the node, but its NUMA topology in "
            "nova's cell database gives PCPU=3 (NUMA1: 3)") in \
        built.summary.refused['n']


def test_isolated_threads_on_an_smt_host_refuse_naming_the_numbers():
    smt = (HostCell(0, 4, 8, 8192, threads=2),)
    consumer = Consumer('t', 't', cells=(GuestCell(
        0, 0, 2, 1024, thread_policy='isolate'),), request=CpuRequest(
        0, 2, 'f2', ('hw:cpu_policy=dedicated',
                     'hw:cpu_thread_policy=isolate')))
    built = build(_facts(_node(consumer, cells=smt)), {'n': _view(
        t={'PCPU': 2, 'MEMORY_MB': 1024})})
    assert built.layouts.rules == ()
    assert ('node n: instance t has hw:cpu_thread_policy=isolate on host '
            'cell 0, whose cores have 2 threads: it keeps 4 host CPUs there '
            "(2 pinned and their siblings), but nova's scheduler asks "
            'PCPU=2') in built.summary.refused['n']
    without = build(_facts(_node(consumer, cells=(HostCell(
        0, 4, 8, 8192),))), {'n': _view(t={'PCPU': 2, 'MEMORY_MB': 1024})})
    assert without.summary.refused == {}


def test_vcpu_users_on_a_host_without_shared_cpus_refuse_each():
    dedicated = (HostCell(0, 0, 8, 8192), HostCell(1, 0, 8, 8192))
    floating = [Consumer(u, u, request=CpuRequest(2, 0, 'f2'))
                for u in ('f1', 'f2')]
    built = build(_facts(_node(PINNED, *floating, cells=dedicated)),
                  {'n': _view(e={'PCPU': 3, 'MEMORY_MB': 1024},
                              f1={'VCPU': 2, 'MEMORY_MB': 512},
                              f2={'VCPU': 1, 'MEMORY_MB': 512})})
    refused = built.summary.refused['n']
    for consumer, vcpus in (('f1', 2), ('f2', 1)):
        assert (f'instance {consumer} holds VCPU={vcpus}, but no host cell '
                'of the node has shared CPUs') in refused
    assert 'instance e' not in refused
    assert 'cpu_dedicated_set without cpu_shared_set' in refused


def test_roles_of_moves_in_progress():
    move = Move('m1', 'resize', 'finished', 'n', 'other', 'source')
    migration = Consumer('m1', 'i1', kind='migration', move=move)
    built = build(_facts(_node(migration, Consumer('i2', 'i2'))))
    assert built.summary.roles == {'n': {
        'm1': 'migration of instance i1: resize m1 n -> other (finished): '
              'the source side'}}
    assert Move('m', 'resize', 'finished', 'n', 'n', 'destination') \
        .text() == 'resize m on the same node (finished): the destination ' \
                   'side'


@pytest.mark.parametrize('more,located,reason', [
    ('', {}, "nova's cell database has no compute node g: left as it is"),
    ('setting [api_database] connection in the config file reads every '
     'cell', {}, "nova's cell database has no compute node g in the cells "
     'read: not pivoted; setting [api_database] connection in the config '
     'file reads every cell'),
    ('without --cell every cell is read', {'g': 'cell2'},
     "maps its host to cell cell2, which was not read: --cell cell2 reads "
     'it'),
])
def test_nodes_of_cells_not_read(more, located, reason):
    built = build(_facts(_node(), more=more, located=located), {
        'n': _view()}, placement_nodes=['n', 'g'])
    assert reason in built.layouts.why_no_rule('g')
    assert (built.summary.unread == {}) is (not more)
    if more:
        [line] = built.summary.unread_lines()
        assert 'node of Placement is in none of the nova cells read' in line
        assert line.endswith(more) and ': g;' in line


def test_a_pf_made_under_its_interface_name_is_renamed():
    pfs = (PfRecord(PF, 1, 4, 'physnet1'),
           PfRecord('0000:3b:00.0', 0, 4, 'physnet1'))
    user = Consumer('v', 'v', vfs={PF: 1})
    devices = {'ens1f1': DeviceView(4, 'NUMA1', {'v': 1}),
               'ens1f0': DeviceView(4, None, {})}
    built = build(_facts(_node(user, pfs=pfs)), {'n': _view(
        devices, v={'VCPU': 1, 'SRIOV_NET_VF': 1})})
    children = {c.name: c for c in _rule(built).layout.children}
    assert children['pci_0000_af_00_0'].former == frozenset(['ens1f1'])
    assert children['pci_0000_3b_00_0'].former == frozenset(['ens1f0'])


def test_a_pf_child_that_cannot_be_told_apart_is_not_renamed():
    pfs = (PfRecord(PF, None, 4, 'physnet1'),
           PfRecord('0000:3b:00.0', None, 4, 'physnet1'))
    devices = {'ens1f0': DeviceView(4, None, {}),
               'ens1f1': DeviceView(4, None, {})}
    built = build(_facts(_node(pfs=pfs)), {'n': _view(devices)})
    assert all(not c.former for c in _rule(built).layout.children)
    assert any('ens1f0, ens1f1 offer SRIOV_NET_VF, but which PF each is '
               'cannot be told' in w for w in built.summary.warnings)


@hypothesis.given(held=st.integers(0, 6), asked=st.integers(1, 6))
def test_healing_never_takes_cpus_away(held, asked):
    """Fails when the builder would lower what a pinned instance holds
    (a heal only adds what nova asks), or heal what nova does not ask."""
    consumer = Consumer('e', 'e', cells=(GuestCell(1, 0, asked, 1024),),
                        request=CpuRequest(0, asked, 'f'))
    built = build(_facts(_node(consumer)), {'n': _view(
        e={'PCPU': held, 'MEMORY_MB': 1024} if held else
        {'MEMORY_MB': 1024})})
    if held > asked:
        assert 'n' in built.summary.refused
    elif held == asked:
        assert built.summary.healed == []
    elif held:
        [healed] = built.summary.healed
        assert (healed.before['PCPU'], healed.after['PCPU']) == (held, asked)
    assert all(h.after['PCPU'] == asked for h in built.summary.healed)
