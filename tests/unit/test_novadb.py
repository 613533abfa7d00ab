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

"""nova's facts as layouts and hints (nested_pivot.novadb.build): no nova,
no Placement; the facts are typed values as the reader makes them."""

from __future__ import annotations

from typing import Any

import pytest

from nested_pivot import exception
from nested_pivot import layoutfile
from nested_pivot.layout import Inventory
from nested_pivot.novadb import build
from nested_pivot.novadb import Consumer
from nested_pivot.novadb import Facts
from nested_pivot.novadb import GuestCell
from nested_pivot.novadb import HostCell
from nested_pivot.novadb import Node
from nested_pivot.novadb import NodeView
from nested_pivot.novadb import PfRecord
from nested_pivot.novadb.build import exact

PF = '0000:af:00.0'


def _node(**consumers: Consumer) -> Node:
    return Node('n[1]', 'h1', 'cell1',
                (HostCell(0, 4, 4, 8192), HostCell(1, 4, 4, 8192)),
                cpu_allocation_ratio=4.0, reserved_host_memory_mb=512,
                pfs=(PfRecord(PF, 1, 4, 'physnet1'),),
                consumers=consumers)


PINNED = Consumer('p', 'p', cells=(GuestCell(1, 0, 2, 2048),),
                  vfs={PF: 1})
SPLIT = Consumer('s', 's', cells=(GuestCell(0, 1, 0, 1024),
                                  GuestCell(1, 1, 0, 1024)))
FLOATING = Consumer('f', 'f')


def _facts(node: Node) -> Facts:
    return Facts({node.name: node},
                 {c: frozenset([node.name]) for c in node.consumers})


def _view(**held: dict[str, int]) -> NodeView:
    inventory = {'VCPU': Inventory(8, allocation_ratio=2.0),
                 'PCPU': Inventory(8),
                 'MEMORY_MB': Inventory(16384, reserved=1024),
                 'SRIOV_NET_VF': Inventory(4)}
    return NodeView(inventory, frozenset(inventory), held)


def _hints(built: Any) -> dict[str, Any]:
    (rule,) = built.layouts.rules
    return dict(rule.hints['n[1]'])


def test_one_rule_per_node_with_cells_pfs_and_hints():
    built = build(_facts(_node(p=PINNED, s=SPLIT, f=FLOATING)))
    (rule,) = built.layouts.rules
    assert rule.match == exact('n[1]') and rule.matches('n[1]')
    assert not rule.matches('n1')
    children = {c.name: c for c in rule.layout.children}
    assert set(children) == {'NUMA0', 'NUMA1', 'pci_0000_af_00_0'}
    assert children['pci_0000_af_00_0'].parent == 'NUMA1'
    assert children['NUMA0'].inventory['MEMORY_MB'].reserved == 512
    assert children['NUMA1'].inventory['MEMORY_MB'].reserved == 0
    assert children['NUMA1'].inventory['VCPU'].allocation_ratio == 4.0
    assert rule.layout.converts == {'VCPU': 'PCPU'}
    assert _hints(built) == {
        'p': {'PCPU': {'NUMA1': 2}, 'MEMORY_MB': {'NUMA1': 2048},
              'convert': {'VCPU': 'PCPU'},
              'SRIOV_NET_VF': {'pci_0000_af_00_0': 1}},
        's': {'VCPU': {'NUMA0': 1, 'NUMA1': 1},
              'MEMORY_MB': {'NUMA0': 1024, 'NUMA1': 1024}}}
    assert (built.summary.hinted, built.summary.packed) == (2, 1)


def test_the_document_is_a_layouts_file():
    """Fails when what discover writes is not what the CLI reads."""
    built = build(_facts(_node(p=PINNED)))
    again = layoutfile.from_document(built.document, 'here')
    assert again.rules[0].layout == built.layouts.rules[0].layout
    assert again.rules[0].hints == built.layouts.rules[0].hints


def test_placement_gives_ratios_reserved_and_when_to_convert():
    built = build(_facts(_node(p=PINNED)), {'n[1]': _view(
        p={'PCPU': 2, 'MEMORY_MB': 2048, 'SRIOV_NET_VF': 1})})
    children = {c.name: c for c in built.layouts.rules[0].layout.children}
    assert children['NUMA0'].inventory['VCPU'].allocation_ratio == 2.0
    assert children['NUMA0'].inventory['MEMORY_MB'].reserved == 1024
    assert 'convert' not in _hints(built)['p']  # holds PCPU already
    assert built.summary.warnings == []


def test_a_pinned_instance_still_on_vcpu_converts():
    built = build(_facts(_node(p=PINNED)), {'n[1]': _view(
        p={'VCPU': 2, 'MEMORY_MB': 2048, 'SRIOV_NET_VF': 1})})
    assert _hints(built)['p']['convert'] == {'VCPU': 'PCPU'}


@pytest.mark.parametrize('held, reason', [
    ({'PCPU': 4, 'MEMORY_MB': 2048, 'SRIOV_NET_VF': 1},
     'instance p holds PCPU=4 on the node, but its NUMA topology in '
     "nova's cell database gives PCPU=2 (NUMA1: 2)"),
    ({'PCPU': 2, 'MEMORY_MB': 1024, 'SRIOV_NET_VF': 1},
     'holds MEMORY_MB=1024 on the node, but its NUMA topology'),
    ({'PCPU': 2, 'MEMORY_MB': 2048, 'SRIOV_NET_VF': 2},
     'holds SRIOV_NET_VF=2 on the node, but nova\'s cell database gives it '
     f'1 VF (1 on PF {PF})'),
])
def test_a_topology_that_contradicts_the_allocations_refuses(held, reason):
    """Fails when a node whose facts contradict the allocations gets a
    rule (the pivot would place an instance where it is not)."""
    built = build(_facts(_node(p=PINNED)), {'n[1]': _view(p=held)})
    assert built.layouts.rules == ()
    assert reason in built.summary.refused['n[1]']
    assert built.layouts.rule_for('n[1]') is None
    assert reason in built.layouts.why_no_rule('n[1]')


def test_an_allocation_of_an_instance_nova_puts_elsewhere_refuses():
    facts = _facts(_node(p=PINNED))
    facts = Facts(facts.nodes, {**facts.where, 'x': frozenset(['n2'])})
    built = build(facts, {'n[1]': _view(
        p={'PCPU': 2, 'MEMORY_MB': 2048, 'SRIOV_NET_VF': 1},
        x={'VCPU': 1})})
    assert built.summary.refused['n[1]'] == (
        "node n[1]: consumer x holds VCPU=1 on the node, but nova's cell "
        'database puts it on node n2')


def test_unknown_allocations_and_nodes_are_warnings():
    built = build(_facts(_node(f=FLOATING)),
                  {'n[1]': _view(f={'VCPU': 1}, orphan={'VCPU': 2})},
                  placement_nodes=['n[1]', 'ghost'])
    assert len(built.layouts.rules) == 1
    assert any('consumer orphan holds VCPU=2' in w and 'left to the packer'
               in w for w in built.summary.warnings)
    assert built.layouts.why_no_rule('ghost') == (
        "nova's cell database has no compute node ghost: left as it is")


def test_a_cell_without_dedicated_cpus_refuses_a_pinned_instance():
    node = Node('n', 'h', 'c', (HostCell(0, 4, 0, 4096),),
                consumers={'p': Consumer('p', 'p', cells=(
                    GuestCell(0, 0, 2, 1024),))})
    built = build(_facts(node))
    assert 'uses PCPU=2 on host cell 0, where nova\'s cell database ' \
        'records no dedicated CPUs' in built.summary.refused['n']


def test_no_physnet_and_no_vf_inventory_are_said():
    node = Node('n', 'h', 'c', (HostCell(0, 4, 0, 4096),),
                pfs=(PfRecord(PF, 0, 2),))
    built = build(_facts(node))
    assert any(f'no physnet known for PF {PF}' in w
               for w in built.summary.warnings)
    without = build(_facts(node), {'n': NodeView(
        {'VCPU': Inventory(4)}, frozenset(['VCPU']), {})})
    children = [c.name for c in without.layouts.rules[0].layout.children]
    assert children == ['NUMA0']
    assert any('offers no SRIOV_NET_VF on the node: PFs left out' in w
               for w in without.summary.warnings)


def test_reading_needs_nova():
    """Fails when reading nova's facts without nova is anything but one
    clear error naming the extra to install."""
    pytest.importorskip('oslo_config')
    try:
        import nova  # noqa: F401
    except ImportError:
        from nested_pivot import novadb

        with pytest.raises(exception.NovaFactsError,
                           match=r"nested_pivot\[nova\]"):
            novadb.read(novadb.Source('sqlite://'))
    else:
        pytest.skip('nova is installed here')


def test_the_old_name_of_nova_s_pf_record_still_imports():
    """Fails when the rename to PfRecord breaks a caller of the old name:
    deprecate, do not break."""
    from nested_pivot import novadb

    assert novadb.PhysicalFunction is novadb.PfRecord
    assert novadb.PfRecord(PF, 0, 2).vfs == 2
