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

"""nova's facts as a layouts document: one rule per compute node.

Each rule matches one node by its exact hypervisor_hostname and holds:

* a ``NUMA<id>`` child per host cell, with VCPU (the cell's shared CPUs,
  at the node's cpu_allocation_ratio), PCPU (its dedicated CPUs) and
  MEMORY_MB (at the node's ram_allocation_ratio); the host's reserved
  amounts go on the first cell that can hold them, as ``discover`` does;
* a ``pci_<address>`` child per SR-IOV PF, under its cell, with its VFs
  and its physnet trait when something tells the physnet;
* a hint per consumer with a NUMA fact (its cells, split across them for
  a multi-cell guest; PCPU, converted from VCPU where the instance still
  holds VCPU), and the PF of each of its VFs.  A consumer without such a
  fact gets no hint: the packer places it.

Given what Placement holds (:class:`NodeView`), the cells take the flat
root's allocation ratios and reserved amounts, every hint is checked
against the consumer's allocations, and every allocation against nova's
consumers.  A contradiction refuses the node with a reason that names the
node, the consumer, the class and the numbers; a doubt is a warning.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
import dataclasses
from typing import Any

import os_traits

from nested_pivot import layoutfile
from nested_pivot import names
from nested_pivot.layout import Inventory
from nested_pivot.layouts import numa_child_name
from nested_pivot.novadb.facts import Consumer
from nested_pivot.novadb.facts import Facts
from nested_pivot.novadb.facts import Node

SOURCE = "nova's cell database"
VF = 'SRIOV_NET_VF'
CPU_CLASSES = ('VCPU', 'PCPU', 'MEMORY_MB')


@dataclasses.dataclass(frozen=True)
class NodeView:
    """A node as Placement holds it, as far as building needs: the
    root's records, the classes some provider of the node's tree offers,
    and each consumer's amounts on the node's providers."""

    root_inventory: Mapping[str, Inventory]
    offered: frozenset[str]
    held: Mapping[str, Mapping[str, int]]


@dataclasses.dataclass
class Summary:
    """What building found: nodes with a rule, consumers hinted and left
    to the packer, and every warning and refusal."""

    nodes: int = 0
    hinted: int = 0
    packed: int = 0
    warnings: list[str] = dataclasses.field(default_factory=list)
    refused: dict[str, str] = dataclasses.field(default_factory=dict)
    unmatched: dict[str, str] = dataclasses.field(default_factory=dict)

    def lines(self) -> list[str]:
        """The summary as the CLI prints it: counts, then one line per
        refusal and warning."""
        problems = len(self.warnings) + len(self.refused)
        head = (f"nova's facts: {_plural(self.nodes, 'node')} with a "
                f'layout, {_plural(self.hinted, "instance")} hinted, '
                f'{self.packed} left to the packer, '
                f'{_plural(len(self.refused), "node")} refused, '
                f'{_plural(problems, "inconsistency")}'
                + (':' if problems else '.'))
        return [head, *(f'  refused: {r}' for r in self.refused.values()),
                *(f'  warning: {w}' for w in self.warnings)]

    def document(self) -> dict[str, Any]:
        """The summary as a JSON document."""
        return {'nodes': self.nodes, 'hinted': self.hinted,
                'packed': self.packed, 'warnings': list(self.warnings),
                'refused': dict(self.refused)}


@dataclasses.dataclass(frozen=True)
class Built:
    """The layouts document (as a file holds it), its rules, and the
    summary."""

    document: dict[str, Any]
    layouts: layoutfile.Layouts
    summary: Summary


class Refused(Exception):
    """A node's facts contradict each other or Placement."""


def build(facts: Facts, views: Mapping[str, NodeView] | None = None,
          placement_nodes: Iterable[str] = ()) -> Built:
    """One rule per node of ``facts`` (every node, or those in ``views``
    when given: the nodes Placement has), checked against ``views``.

    ``placement_nodes`` are the compute nodes Placement has: those nova
    does not know are warned about and get no rule.
    """
    summary = Summary(warnings=list(facts.notes))
    rules = []
    for name, node in sorted(facts.nodes.items()):
        if views is not None and name not in views:
            summary.warnings.append(
                f'node {name}: in {SOURCE}, but Placement has no '
                'resource provider of that name: left out')
            continue
        view = views.get(name) if views is not None else None
        rule = _rule_or_refusal(facts, node, view, summary)
        if rule is not None:
            rules.append(rule)
    for name in sorted(set(placement_nodes) - set(facts.nodes)):
        summary.unmatched[name] = (f'{SOURCE} has no compute node {name}: '
                                   'left as it is')
        summary.warnings.append(summary.unmatched[name])
    summary.nodes = len(rules)
    document = {'layouts': rules}
    source = ', '.join(facts.sources) or SOURCE
    layouts = layoutfile.from_document(document, source)
    return Built(document, dataclasses.replace(
        layouts, refused=dict(summary.refused),
        unmatched=dict(summary.unmatched)), summary)


def _rule_or_refusal(facts: Facts, node: Node, view: NodeView | None,
                     summary: Summary) -> dict[str, Any] | None:
    if not node.cells:
        summary.unmatched[node.name] = (
            f'{SOURCE} records no NUMA topology for node {node.name}: '
            'nothing to pivot')
        summary.warnings.append(summary.unmatched[node.name])
        return None
    warnings: list[str] = []
    try:
        rule, hinted, packed = _rule(facts, node, view, warnings)
    except Refused as err:
        summary.refused[node.name] = f'node {node.name}: {err}'
        return None
    finally:
        summary.warnings.extend(warnings)
    summary.hinted += hinted
    summary.packed += packed
    return rule


def _rule(facts: Facts, node: Node, view: NodeView | None,
          warnings: list[str]) -> tuple[dict[str, Any], int, int]:
    cells = _cells(node, view, warnings)
    pfs = _pfs(node, view, {c['name'] for c in cells}, warnings)
    pf_names = {pf.address: names.pci_child_name(pf.address)
                for pf in node.pfs} if pfs else {}
    offered = {c['name']: set(c['inventory']) for c in cells}
    hints: dict[str, Any] = {}
    packed = 0
    for consumer in sorted(node.consumers.values(), key=lambda c: c.uuid):
        holds, held = _held(node, consumer, view, warnings)
        if not holds:
            continue
        hint = _hint(node, consumer, held, pf_names, offered, warnings)
        if hint:
            hints[consumer.uuid] = hint
        else:
            packed += 1
    if view is not None:
        _check_held(facts, node, view)
        warnings.extend(_unknown(facts, node, view))
    warnings.extend(_pinning(node))
    rule: dict[str, Any] = {'match': exact(node.name),
                            'children': cells + pfs}
    if any(h.get('convert') for h in hints.values()):
        rule['converts'] = {'VCPU': 'PCPU'}
    if pfs and all(pf.physnet for pf in node.pfs):
        rule['managed_traits'] = [names.PHYSNET_TRAITS]
    if hints:
        rule['hints'] = {node.name: hints}
    return rule, len(hints), packed


# -- children ---------------------------------------------------------------

def _cells(node: Node, view: NodeView | None, warnings: list[str]
           ) -> list[dict[str, Any]]:
    children = []
    for cell in node.cells:
        inventory: dict[str, dict[str, Any]] = {}
        if cell.cpus:
            inventory['VCPU'] = {'total': cell.cpus, 'allocation_ratio':
                                 node.cpu_allocation_ratio}
        if cell.pcpus:
            inventory['PCPU'] = {'total': cell.pcpus}
        if cell.memory_mb:
            inventory['MEMORY_MB'] = {'total': cell.memory_mb,
                                      'allocation_ratio':
                                      node.ram_allocation_ratio}
        if inventory:
            children.append({'name': numa_child_name(cell.id),
                             'inventory': inventory,
                             'traits': [os_traits.HW_NUMA_ROOT]})
    reserved = {'VCPU': node.reserved_host_cpus,
                'MEMORY_MB': node.reserved_host_memory_mb, 'PCPU': 0}
    for rc in CPU_CLASSES:
        _fit(node.name, rc, children, view, reserved[rc], warnings)
    return children


def _pfs(node: Node, view: NodeView | None, cells: set[str],
         warnings: list[str]) -> list[dict[str, Any]]:
    found = [pf for pf in node.pfs if pf.vfs > 0]
    if not found:
        return []
    if view is not None and VF not in view.offered:
        warnings.append(
            f'node {node.name}: {_plural(len(found), "PF")} with VFs in '
            f'{SOURCE}, but Placement offers no {VF} on the node: PFs '
            'left out')
        return []
    children = []
    for pf in found:
        child: dict[str, Any] = {'name': names.pci_child_name(pf.address)}
        cell = (numa_child_name(pf.numa_node)
                if pf.numa_node is not None else None)
        if cell in cells:
            child['parent'] = cell
        child['inventory'] = {VF: {'total': pf.vfs}}
        if pf.physnet:
            child['traits'] = [names.physnet_trait(pf.physnet)]
        else:
            warnings.append(
                f'node {node.name}: no physnet known for PF {pf.address} '
                '(neither [pci] device_spec nor its instances\' PCI '
                'requests tell it): no physnet trait')
        children.append(child)
    _fit(node.name, VF, children, view, 0, warnings)
    return children


def _fit(node: str, rc: str, children: list[dict[str, Any]],
         view: NodeView | None, reserved: int, warnings: list[str]) -> None:
    """The children's records of ``rc`` take the flat root's ratio and
    reserved amount, when Placement has them; the reserved amount goes on
    the first child it fits."""
    records = [c['inventory'][rc] for c in children if rc in c['inventory']]
    if not records:
        return
    root = view.root_inventory.get(rc) if view is not None else None
    if view is not None and root is None and rc not in view.offered:
        total = sum(r['total'] for r in records)
        warnings.append(f'node {node}: Placement offers no {rc} on the '
                        f'node; the children get {SOURCE}\'s {total}')
    if root is not None:
        reserved = root.reserved
        for record in records:
            if rc != 'PCPU' or root.allocation_ratio != 1.0:
                record['allocation_ratio'] = root.allocation_ratio
        total = sum(r['total'] for r in records)
        if total != root.total:
            warnings.append(
                f'node {node}: {SOURCE} gives {rc} {total} in all, '
                f'Placement\'s root offers {root.total}: the children get '
                f"nova's figures")
    if not reserved:
        return
    for record in records:
        if record['total'] >= reserved:
            record['reserved'] = reserved
            return
    warnings.append(f'node {node}: reserved {rc} {reserved} fits no child '
                    'alone: not reserved')


# -- hints ------------------------------------------------------------------

def _held(node: Node, consumer: Consumer, view: NodeView | None,
          warnings: list[str]) -> tuple[bool, Mapping[str, int] | None]:
    """Whether the consumer holds anything on the node, and what (None
    without a view, when nothing tells)."""
    if view is None:
        return True, None
    held = view.held.get(consumer.uuid)
    if held:
        return True, held
    if consumer.cells or consumer.vfs:
        warnings.append(
            f'node {node.name}: nova puts {_who(consumer)} on the node, '
            'but it holds no allocation there: no hint')
    return False, None


def _hint(node: Node, consumer: Consumer, held: Mapping[str, int] | None,
          pf_names: Mapping[str, str], offered: Mapping[str, set[str]],
          warnings: list[str]) -> dict[str, Any]:
    hint: dict[str, Any] = {}
    if consumer.cells:
        hint.update(_numa_hint(node, consumer, held, offered))
    if consumer.vfs and pf_names:
        vfs = _vf_hint(node, consumer, held, pf_names, warnings)
        if vfs:
            hint[VF] = vfs
    return hint


def _numa_hint(node: Node, consumer: Consumer,
               held: Mapping[str, int] | None,
               offered: Mapping[str, set[str]]) -> dict[str, Any]:
    split: dict[str, dict[str, int]] = {}
    for cell in consumer.cells:
        child = numa_child_name(cell.host_cell)
        for rc, amount in (('VCPU', cell.vcpus), ('PCPU', cell.pcpus),
                           ('MEMORY_MB', cell.memory_mb)):
            if not amount:
                continue
            if rc not in offered.get(child, ()):
                raise Refused(
                    f'{_who(consumer)} uses {rc}={amount} on host cell '
                    f'{cell.host_cell}, where {SOURCE} records '
                    f'{_offer(rc, offered.get(child))}')
            per = split.setdefault(rc, {})
            per[child] = per.get(child, 0) + amount
    hint: dict[str, Any] = dict(split)
    if _converts(consumer, held):
        hint['convert'] = {'VCPU': 'PCPU'}
    if held is not None:
        _check_amounts(node, consumer, held, split, 'convert' in hint)
    return hint


def _converts(consumer: Consumer, held: Mapping[str, int] | None) -> bool:
    """A pinned instance from before PCPU existed still holds VCPU."""
    if not consumer.dedicated or consumer.shared:
        return False
    if held is None:
        return True
    return bool(held.get('VCPU')) and not held.get('PCPU')


def _check_amounts(node: Node, consumer: Consumer, held: Mapping[str, int],
                   split: Mapping[str, Mapping[str, int]],
                   converts: bool) -> None:
    have = dict(held)
    if converts:
        have['PCPU'] = have.pop('VCPU', 0)
    for rc in CPU_CLASSES:
        want = sum(split.get(rc, {}).values())
        if have.get(rc, 0) != want:
            where = ', '.join(f'{c}: {n}' for c, n in
                              sorted(split.get(rc, {}).items())) or 'none'
            was = ' (its VCPU, converted)' if converts and rc == 'PCPU' \
                else ''
            raise Refused(
                f'{_who(consumer)} holds {rc}={have.get(rc, 0)}{was} on '
                f"the node, but its NUMA topology in {SOURCE} gives "
                f'{rc}={want} ({where})')


def _vf_hint(node: Node, consumer: Consumer, held: Mapping[str, int] | None,
             pf_names: Mapping[str, str], warnings: list[str]
             ) -> dict[str, int]:
    want = sum(consumer.vfs.values())
    have = None if held is None else held.get(VF, 0)
    if have == 0:
        warnings.append(f'node {node.name}: {_who(consumer)} uses '
                        f'{_plural(want, "VF")} but holds no {VF}: no hint')
        return {}
    if have is not None and have != want:
        raise Refused(f'{_who(consumer)} holds {VF}={have} on the node, '
                      f'but {SOURCE} gives it {_plural(want, "VF")} '
                      f'({_vf_list(consumer.vfs)})')
    return {pf_names[a]: n for a, n in sorted(consumer.vfs.items())}


# -- cross-checks -----------------------------------------------------------

def _check_held(facts: Facts, node: Node, view: NodeView) -> None:
    """An allocation on the node of a consumer nova puts elsewhere: the
    facts or Placement are wrong, and a pivot would guess."""
    for consumer, held in sorted(view.held.items()):
        if consumer in node.consumers:
            continue
        elsewhere = sorted(facts.where.get(consumer, ()))
        if elsewhere:
            raise Refused(
                f'consumer {consumer} holds {_amounts(held)} on the node, '
                f"but {SOURCE} puts it on node {', '.join(elsewhere)}")


def _unknown(facts: Facts, node: Node, view: NodeView) -> list[str]:
    return [f'node {node.name}: consumer {c} holds {_amounts(held)}, but '
            f'{SOURCE} knows no instance or migration {c}: left to the '
            'packer'
            for c, held in sorted(view.held.items())
            if c not in node.consumers and c not in facts.where]


def _pinning(node: Node) -> list[str]:
    """Host cells whose pinned CPUs are not the ones their consumers are
    pinned to."""
    used: dict[int, set[int]] = {}
    for consumer in node.consumers.values():
        for cell in consumer.cells:
            used.setdefault(cell.host_cell, set()).update(cell.pinned)
    return [f'node {node.name}: host cell {cell.id} records pinned CPUs '
            f'{_cpus(cell.pinned)}, its instances are pinned to '
            f'{_cpus(used.get(cell.id, set()))}'
            for cell in node.cells
            if cell.pinned != frozenset(used.get(cell.id, set()))]


# -- names and words --------------------------------------------------------

def exact(name: str) -> str:
    """A glob that matches ``name`` alone."""
    return ''.join(f'[{ch}]' if ch in '*?[' else ch for ch in name)


def _who(consumer: Consumer) -> str:
    if consumer.kind == 'instance':
        return f'instance {consumer.uuid}'
    return f'{consumer.kind} {consumer.uuid} (of instance ' \
           f'{consumer.instance})'


def _offer(rc: str, classes: set[str] | None) -> str:
    if not classes:
        return 'no CPUs and no memory'
    what = {'VCPU': 'shared CPUs', 'PCPU': 'dedicated CPUs',
            'MEMORY_MB': 'memory'}
    return f'no {what.get(rc, rc)}'


def _amounts(held: Mapping[str, int]) -> str:
    return ' '.join(f'{rc}={n}' for rc, n in sorted(held.items()))


def _vf_list(vfs: Mapping[str, int]) -> str:
    return ', '.join(f'{n} on PF {a}' for a, n in sorted(vfs.items()))


def _cpus(cpus: Iterable[int]) -> str:
    found = sorted(cpus)
    return '{' + ','.join(map(str, found)) + '}' if found else 'none'


def _plural(count: int, noun: str) -> str:
    if count == 1:
        return f'1 {noun}'
    if noun.endswith('y'):
        return f'{count} {noun[:-1]}ies'
    return f'{count} {noun}s'
