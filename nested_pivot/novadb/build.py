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

CPUs follow what nova's scheduler asks today for each consumer's flavor
and image, on the cells it is pinned to: a pinned instance holding less
(Train's reshape swapped VCPU for PCPU one for one, leaving out an
isolated emulator thread) is healed to it.  Where no pivot can hold what
an instance uses (an isolated-threads instance on an SMT host, a VCPU user
on a host without shared CPUs), the node is refused, naming it.  A PF
child made under another name (an interface's) is renamed in place.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
import contextlib
import dataclasses
from typing import Any
from typing import TypeVar

from nested_pivot import exception
from nested_pivot import layoutfile
from nested_pivot import layouts
from nested_pivot import names
from nested_pivot import text
from nested_pivot.layout import Child
from nested_pivot.layout import Inventory
from nested_pivot.layout import Layout
from nested_pivot.layouts import numa_child_name
from nested_pivot.novadb.facts import Consumer
from nested_pivot.novadb.facts import Facts
from nested_pivot.novadb.facts import HostCell
from nested_pivot.novadb.facts import Node
from nested_pivot.novadb.facts import PfRecord

SOURCE = "nova's cell database"
VF = 'SRIOV_NET_VF'
CPU_CLASSES = ('VCPU', 'PCPU', 'MEMORY_MB')
HEALED = ('VCPU', 'PCPU')
"""The classes a pivot heals to what nova's scheduler asks."""


@dataclasses.dataclass(frozen=True)
class DeviceView:
    """A child of the node offering VFs: their total, its parent's short
    name (None: the root) and each consumer's VFs on it."""

    vfs: int
    parent: str | None
    holders: Mapping[str, int]


@dataclasses.dataclass(frozen=True)
class NodeView:
    """A node as Placement holds it, as far as building needs: the
    root's records, the classes some provider of the node's tree offers,
    each consumer's amounts on the node's providers, and the children
    offering VFs by short name."""

    root_inventory: Mapping[str, Inventory]
    offered: frozenset[str]
    held: Mapping[str, Mapping[str, int]]
    devices: Mapping[str, DeviceView] = dataclasses.field(
        default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Healed:
    """A consumer whose CPUs the pivot heals to what nova's scheduler
    asks: its totals on the node before and after, and why."""

    node: str
    consumer: str
    who: str
    before: Mapping[str, int]
    after: Mapping[str, int]
    why: str

    def line(self) -> str:
        change = ', '.join(f'{rc} {self.before.get(rc, 0)} -> {n}'
                           for rc, n in self.after.items()
                           if self.before.get(rc, 0) != n)
        return f'node {self.node}: {self.who}: {change} ({self.why})'


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
    unread: dict[str, str] = dataclasses.field(default_factory=dict)
    """Nodes Placement has that the cells read do not: why, and which
    option reads them."""
    more: str = ''
    healed: list[Healed] = dataclasses.field(default_factory=list)
    roles: dict[str, dict[str, str]] = dataclasses.field(
        default_factory=dict)
    """Per node, the consumers that are a side of a move in progress (or
    a migration's): what nova's records say they are."""

    def lines(self) -> list[str]:
        """The summary as the CLI prints it: counts, then one line per
        refusal, heal and warning."""
        problems = len(self.warnings) + len(self.refused)
        head = (f"nova's facts: {text.plural(self.nodes, 'node')} with a "
                f'layout, {text.plural(self.hinted, "instance")} hinted, '
                f'{self.packed} left to the packer, '
                f'{text.plural(len(self.healed), "consumer")} healed, '
                f'{text.plural(len(self.refused), "node")} refused, '
                f'{text.plural(problems, "inconsistency")}'
                + (':' if problems or self.healed else '.'))
        return [head, *self.unread_lines(),
                *(f'  refused: {r}' for r in self.refused.values()),
                *(f'  healed: {h.line()}' for h in self.healed),
                *(f'  warning: {w}' for w in self.warnings)]

    def unread_lines(self) -> list[str]:
        """How many nodes no cell read has, and what reads them."""
        if not self.unread:
            return []
        return [f'  {text.plural(len(self.unread), "node")} of Placement '
                f'{"is" if len(self.unread) == 1 else "are"} in none of '
                f'the nova cells read, not pivoted: '
                f'{", ".join(sorted(self.unread))}; {self.more}']

    def document(self) -> dict[str, Any]:
        """The summary as a JSON document."""
        return {'nodes': self.nodes, 'hinted': self.hinted,
                'packed': self.packed, 'warnings': list(self.warnings),
                'refused': dict(self.refused), 'unread': dict(self.unread),
                'healed': [dataclasses.asdict(h) for h in self.healed],
                'roles': {n: dict(r) for n, r in self.roles.items()}}


@dataclasses.dataclass(frozen=True)
class Built:
    """The layouts document (as a file holds it), its rules, and the
    summary."""

    document: dict[str, Any]
    layouts: layoutfile.Layouts
    summary: Summary


def build(facts: Facts, views: Mapping[str, NodeView] | None = None,
          placement_nodes: Iterable[str] = ()) -> Built:
    """One rule per node of ``facts`` (every node, or those in ``views``
    when given: the nodes Placement has), checked against ``views``.

    ``placement_nodes`` are the compute nodes Placement has: those nova
    does not know are warned about and get no rule.
    """
    summary = Summary(warnings=list(facts.notes))
    rules = []
    for name, cells in sorted(facts.cells.items()):
        summary.warnings.append(
            f'node {name}: the name is in nova cells {_and(cells)}: the '
            f'facts of cell {cells[0]} were used')
    placement_nodes = list(placement_nodes)
    for name, reason in sorted(facts.refused.items()):
        if views is None or name in placement_nodes:
            summary.refused[name] = reason
    for name, node in sorted(facts.nodes.items()):
        if name in summary.refused:
            continue
        if views is not None and name not in views:
            summary.warnings.append(
                f'node {name}: in {SOURCE}, but Placement has no '
                'resource provider of that name: left out')
            continue
        view = views.get(name) if views is not None else None
        rule = _rule_or_refusal(facts, node, view, summary)
        if rule is not None:
            rules.append(rule)
    summary.more = facts.more
    for name in sorted(set(placement_nodes) - set(facts.nodes)
                       - set(facts.refused)):
        summary.unmatched[name] = _unmatched(facts, name)
        if facts.more:
            summary.unread[name] = summary.unmatched[name]
        summary.warnings.append(summary.unmatched[name])
    summary.nodes = len(rules)
    layouts = layoutfile.from_rules(rules, _source(facts))
    return Built(layoutfile.as_document(rules), dataclasses.replace(
        layouts, refused=dict(summary.refused),
        unmatched=dict(summary.unmatched)), summary)


def _source(facts: Facts) -> str:
    return ', '.join(facts.sources) or SOURCE


def _unmatched(facts: Facts, name: str) -> str:
    """Why a node of Placement has no rule: nova does not have it, or it
    is in a cell that was not read (and which option reads it)."""
    if not facts.more:
        return f'{SOURCE} has no compute node {name}: left as it is'
    cell = facts.located.get(name)
    how = (f"nova's API database maps its host to cell {cell}, which was "
           f'not read: --cell {cell} reads it' if cell else facts.more)
    return (f'{SOURCE} has no compute node {name} in the cells read: '
            f'not pivoted; {how}')


def _rule_or_refusal(facts: Facts, node: Node, view: NodeView | None,
                     summary: Summary) -> layoutfile.Rule | None:
    if not node.cells:
        summary.unmatched[node.name] = (
            f'{SOURCE} records no NUMA topology for node {node.name}: '
            'nothing to pivot')
        summary.warnings.append(summary.unmatched[node.name])
        return None
    warnings: list[str] = []
    healed: list[Healed] = []
    try:
        rule, hinted, packed = _rule(facts, node, view, warnings, healed)
    except exception.FactsRefused as err:
        summary.refused[node.name] = f'node {node.name}: {err}'
        return None
    finally:
        summary.warnings.extend(warnings)
    summary.hinted += hinted
    summary.packed += packed
    summary.healed += healed
    roles = {c.uuid: _role(c) for c in node.consumers.values()
             if c.move is not None or c.kind != 'instance'}
    if roles:
        summary.roles[node.name] = roles
    return rule


def _rule(facts: Facts, node: Node, view: NodeView | None,
          warnings: list[str], healed: list[Healed]
          ) -> tuple[layoutfile.Rule, int, int]:
    cells = _cells(node, view, warnings)
    pfs = _pfs(node, view, {c.id for c in cells if c.id is not None},
               warnings)
    children = _children(facts, node, cells, pfs)
    pf_names = {pf.address: names.pci_child_name(pf.address)
                for pf in node.pfs} if pfs else {}
    offered = {c.name: set(c.inventory) for c in children[:len(cells)]}
    _check_cpus(node, view)
    hints: dict[str, Any] = {}
    packed = 0
    for consumer in sorted(node.consumers.values(), key=lambda c: c.uuid):
        holds, held = _held(node, consumer, view, warnings)
        if not holds:
            continue
        hint = _hint(node, consumer, held, pf_names, offered, warnings,
                     healed)
        if hint:
            hints[consumer.uuid] = hint
        else:
            packed += 1
    if view is not None:
        _check_held(facts, node, view)
        warnings.extend(_unknown(facts, node, view))
    warnings.extend(_pinning(node))
    layout = _layout(facts, node, children, hints, healed,
                     manages_physnets=bool(pfs) and all(
                         pf.physnet for pf in node.pfs))
    rule = layoutfile.Rule(exact(node.name), layout,
                           {node.name: hints} if hints else {},
                           _source(facts),
                           listed=tuple(c.name for c in children))
    return rule, len(hints), packed


def _layout(facts: Facts, node: Node, children: tuple[Child, ...],
            hints: Mapping[str, Any], healed: list[Healed], *,
            manages_physnets: bool) -> Layout:
    """The node's layout: its children, the conversion its hints ask, the
    classes its consumers are healed of, and the physnet traits when
    every PF's physnet is known."""
    heals = {rc for h in healed for rc in h.after
             if h.after[rc] != h.before.get(rc, 0)}
    with _refusing(facts, node):
        return Layout(
            children, heals=frozenset(heals),
            converts={'VCPU': 'PCPU'} if any(
                h.get('convert') for h in hints.values()) else {},
            managed_traits=frozenset(
                [names.PHYSNET_TRAITS] if manages_physnets else []))


# -- children ---------------------------------------------------------------

CELL_FIELDS = {'VCPU': 'vcpu', 'PCPU': 'pcpu', 'MEMORY_MB': 'memory_mb',
               VF: 'vfs'}
"""The field of :class:`~nested_pivot.layouts.NumaCell` (or
:class:`~nested_pivot.layouts.PhysicalFunction`) that holds each class."""


def _children(facts: Facts, node: Node, cells: list[layouts.NumaCell],
              pfs: list[layouts.PhysicalFunction]) -> tuple[Child, ...]:
    """The node's children, its cells first, as the layouts build them."""
    with _refusing(facts, node):
        return (*layouts.numa_children(cells),
                *layouts.sriov_children(pfs))


@contextlib.contextmanager
def _refusing(facts: Facts, node: Node) -> Iterator[None]:
    """nova's facts that make no valid layout (a negative allocation
    ratio) refuse the document, as a layout file's would."""
    try:
        yield
    except exception.InvalidLayout as err:
        raise exception.LayoutFileError(
            file=_source(facts), where=f'the rule of node {node.name}',
            reason=err.kwargs.get('reason', err)) from None


def _cells(node: Node, view: NodeView | None, warnings: list[str]
           ) -> list[layouts.NumaCell]:
    cells = [layouts.NumaCell(id=cell.id, **_records(node, cell))
             for cell in node.cells
             if cell.cpus or cell.pcpus or cell.memory_mb]
    reserved = {'VCPU': node.reserved_host_cpus,
                'MEMORY_MB': node.reserved_host_memory_mb, 'PCPU': 0}
    for rc in CPU_CLASSES:
        cells = _fit(node.name, rc, cells, view, reserved[rc], warnings)
    return cells


def _records(node: Node, cell: HostCell) -> dict[str, Any]:
    """The cell's records, by the field of its NumaCell."""
    return {CELL_FIELDS[rc]: _record(node, rc, total) for rc, total in (
        ('VCPU', cell.cpus), ('PCPU', cell.pcpus),
        ('MEMORY_MB', cell.memory_mb)) if total}


def _record(node: Node, rc: str, total: int) -> dict[str, Any]:
    """A cell's record of ``rc`` at the node's allocation ratio (PCPU is
    never overcommitted)."""
    ratios = {'VCPU': node.cpu_allocation_ratio,
              'MEMORY_MB': node.ram_allocation_ratio}
    record: dict[str, Any] = {'total': total}
    if rc in ratios:
        record['allocation_ratio'] = ratios[rc]
    return record


def _pfs(node: Node, view: NodeView | None, cells: set[int],
         warnings: list[str]) -> list[layouts.PhysicalFunction]:
    found = [pf for pf in node.pfs if pf.vfs > 0]
    if not found:
        return []
    if view is not None and VF not in view.offered:
        warnings.append(
            f'node {node.name}: {text.plural(len(found), "PF")} with VFs in '
            f'{SOURCE}, but Placement offers no {VF} on the node: PFs '
            'left out')
        return []
    former = _former_names(node, view, found, warnings)
    pfs = []
    for pf in found:
        if not pf.physnet:
            warnings.append(
                f'node {node.name}: no physnet known for PF {pf.address} '
                '(neither [pci] device_spec nor its instances\' PCI '
                'requests tell it): no physnet trait')
        pfs.append(layouts.PhysicalFunction(
            name=former.get(pf.address, names.pci_child_name(pf.address)),
            physnet=pf.physnet or None, vfs={'total': pf.vfs},
            numa_node=pf.numa_node if pf.numa_node in cells else None,
            address=pf.address))
    return _fit(node.name, VF, pfs, view, 0, warnings)


def _former_names(node: Node, view: NodeView | None,
                  pfs: list[PfRecord], warnings: list[str]
                  ) -> dict[str, str]:
    """The PF child, made under another name (an interface's, by an older
    ``discover``), that each PF is, by address: the one child of the node
    offering as many VFs under the same cell whose VFs are held by the
    consumers nova gives this PF's VFs, and that no other PF matches."""
    if view is None:
        return {}
    taken = {names.pci_child_name(pf.address) for pf in pfs}
    spare = {n: d for n, d in view.devices.items() if n not in taken}
    matches: dict[str, list[str]] = {}
    for pf in pfs:
        if names.pci_child_name(pf.address) in view.devices:
            continue
        users = {c.uuid: c.vfs[pf.address] for c in node.consumers.values()
                 if c.vfs.get(pf.address)}
        cell = (numa_child_name(pf.numa_node)
                if pf.numa_node is not None else None)
        matches[pf.address] = [
            n for n, d in sorted(spare.items())
            if d.vfs == pf.vfs and d.parent in (cell, None)
            and dict(d.holders) == users]
    claimed = [n for found in matches.values() for n in found]
    former = {address: found[0] for address, found in matches.items()
              if len(found) == 1 and claimed.count(found[0]) == 1}
    left = sorted(set(spare) - set(former.values()))
    if left and matches:
        warnings.append(
            f'node {node.name}: {", ".join(left)} '
            f'{"offers" if len(left) == 1 else "offer"} {VF}, but which '
            'PF each is cannot be told from its VFs: re-created under '
            'the PF names, their allocations moved')
    return former


_S = TypeVar('_S', layouts.NumaCell, layouts.PhysicalFunction)


def _fit(node: str, rc: str, specs: list[_S], view: NodeView | None,
         reserved: int, warnings: list[str]) -> list[_S]:
    """The children's records of ``rc`` take the flat root's ratio and
    reserved amount, when Placement has them; the reserved amount goes on
    the first child it fits (:func:`nested_pivot.layouts.reserve`)."""
    field = CELL_FIELDS[rc]
    records = [getattr(s, field) for s in specs
               if getattr(s, field) is not None]
    if not records:
        return specs
    total = sum(r['total'] for r in records)
    root = view.root_inventory.get(rc) if view is not None else None
    if view is not None and root is None and rc not in view.offered:
        warnings.append(f'node {node}: Placement offers no {rc} on the '
                        f'node; the children get {SOURCE}\'s {total}')
    if root is not None:
        reserved = root.reserved
        if rc != 'PCPU' or root.allocation_ratio != 1.0:
            specs = [_with(s, field, allocation_ratio=root.allocation_ratio)
                     for s in specs]
        if total != root.total:
            warnings.append(
                f'node {node}: {SOURCE} gives {rc} {total} in all, '
                f'Placement\'s root offers {root.total}: the children get '
                f"nova's figures")
    found = layouts.reserve(specs, field, reserved)
    if found is None:
        warnings.append(f'node {node}: reserved {rc} {reserved} fits no '
                        'child alone: not reserved')
        return specs
    return found


def _with(spec: _S, field: str, **values: Any) -> _S:
    """``spec`` with ``values`` in its record of ``field``, if it has
    one."""
    record = getattr(spec, field)
    if record is None:
        return spec
    changed: dict[str, Any] = {field: {**record, **values}}
    return dataclasses.replace(spec, **changed)


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
          warnings: list[str], healed: list[Healed]) -> dict[str, Any]:
    hint: dict[str, Any] = {}
    if consumer.cells:
        hint.update(_numa_hint(node, consumer, held, offered, healed))
    if consumer.vfs and pf_names:
        vfs = _vf_hint(node, consumer, held, pf_names, warnings)
        if vfs:
            hint[VF] = vfs
    return hint


def _numa_hint(node: Node, consumer: Consumer,
               held: Mapping[str, int] | None,
               offered: Mapping[str, set[str]],
               healed: list[Healed]) -> dict[str, Any]:
    split: dict[str, dict[str, int]] = {}
    for cell in consumer.cells:
        child = numa_child_name(cell.host_cell)
        for rc, amount in (('VCPU', cell.vcpus), ('PCPU', cell.pcpus),
                           ('MEMORY_MB', cell.memory_mb)):
            if not amount:
                continue
            if rc not in offered.get(child, ()):
                raise exception.FactsRefused(
                    f'{_who(consumer)} uses {rc}={amount} on host cell '
                    f'{cell.host_cell}, where {SOURCE} records '
                    f'{_offer(rc, offered.get(child))}')
            per = split.setdefault(rc, {})
            per[child] = per.get(child, 0) + amount
    _check_request(consumer, split)
    hint: dict[str, Any] = dict(split)
    if _converts(consumer, held):
        hint['convert'] = {'VCPU': 'PCPU'}
    if held is not None:
        heal = _check_amounts(node, consumer, held, split, 'convert' in hint)
        if heal is not None:
            healed.append(heal)
    return hint


def _converts(consumer: Consumer, held: Mapping[str, int] | None) -> bool:
    """A pinned instance from before PCPU existed still holds VCPU."""
    if not consumer.dedicated or consumer.shared:
        return False
    if held is None:
        return True
    return bool(held.get('VCPU')) and not held.get('PCPU')


def _check_request(consumer: Consumer,
                   split: Mapping[str, Mapping[str, int]]) -> None:
    """The CPUs of the consumer's NUMA topology are what nova's scheduler
    asks today for its flavor and image, or the facts disagree."""
    request = consumer.request
    if request is None:
        return
    uses = {rc: n for rc in HEALED if (n := sum(split.get(rc, {})
                                                  .values()))}
    if uses != request.amounts():
        shown = ' '.join(f'{rc}={n}' for rc, n in uses.items())
        raise exception.FactsRefused(
            f'{_who(consumer)} uses {shown or "no CPU"} in its NUMA '
            f'topology in {SOURCE} ({_where(split, list(uses))}), but '
            f'{request.why()}')


def _check_amounts(node: Node, consumer: Consumer, held: Mapping[str, int],
                   split: Mapping[str, Mapping[str, int]],
                   converts: bool) -> Healed | None:
    """The consumer holds what its topology uses, or, of CPUs nova's
    scheduler asks (checked by :func:`_check_request`), less: healed."""
    have = dict(held)
    if converts:
        have['PCPU'] = have.pop('VCPU', 0)
    short = {}
    for rc in CPU_CLASSES:
        want = sum(split.get(rc, {}).values())
        if have.get(rc, 0) == want:
            continue
        if (rc in HEALED and have.get(rc, 0) < want
                and consumer.request is not None):
            short[rc] = want
            continue
        was = ' (its VCPU, converted)' if converts and rc == 'PCPU' \
            else ''
        raise exception.FactsRefused(
            f'{_who(consumer)} holds {rc}={have.get(rc, 0)}{was} on '
            f"the node, but its NUMA topology in {SOURCE} gives "
            f'{rc}={want} ({_where(split, (rc,)) or "none"})')
    if not short or consumer.request is None:
        return None
    before = {rc: n for rc, n in sorted(held.items()) if rc in HEALED}
    after = {rc: n for rc, n in sorted({**have, **short}.items())
             if rc in HEALED and n}
    was = ('; Train\'s reshape swapped its VCPU for PCPU one for one'
           if 'PCPU' in short else '')
    return Healed(node.name, consumer.uuid, _who(consumer), before, after,
                  consumer.request.why() + was)


def _check_cpus(node: Node, view: NodeView | None) -> None:
    """Refuse, naming each instance, where no pivot can hold what an
    instance uses."""
    problems = [*_isolated_on_smt(node), *_without_shared(node, view)]
    if problems:
        raise exception.FactsRefused('; '.join(problems))


def _isolated_on_smt(node: Node) -> list[str]:
    """hw:cpu_thread_policy=isolate on an SMT host keeps each pinned
    CPU's sibling threads free too: more than any PCPU amount nova's
    scheduler asks (it never places such an instance on a host with
    HW_CPU_HYPERTHREADING since Train)."""
    threads = {c.id: c.threads for c in node.cells}
    found = []
    for consumer in sorted(node.consumers.values(), key=lambda c: c.uuid):
        for cell in consumer.cells:
            per_core = threads.get(cell.host_cell, 1)
            if cell.thread_policy != 'isolate' or per_core < 2:
                continue
            asked = consumer.request.pcpu if consumer.request else cell.pcpus
            found.append(
                f'{_who(consumer)} has hw:cpu_thread_policy=isolate on host '
                f'cell {cell.host_cell}, whose cores have {per_core} '
                f'threads: it keeps {cell.pcpus * per_core} host CPUs there '
                f'({cell.pcpus} pinned and their siblings), but nova\'s '
                f'scheduler asks PCPU={asked} and never places it on a host '
                'with HW_CPU_HYPERTHREADING: no pivot holds what it uses; '
                'cold-migrate it to a host without SMT')
    return found


def _without_shared(node: Node, view: NodeView | None) -> list[str]:
    """A host with [compute] cpu_dedicated_set and no cpu_shared_set
    offers no VCPU: an instance still holding VCPU there fits no cell."""
    if not node.cells or any(c.cpus for c in node.cells):
        return []
    found = []
    for consumer in sorted(node.consumers.values(), key=lambda c: c.uuid):
        held = view.held.get(consumer.uuid, {}) if view is not None \
            else None
        if _converts(consumer, held):
            continue
        vcpus = (held.get('VCPU', 0) if held is not None else
                 consumer.request.vcpu if consumer.request else
                 consumer.shared)
        if vcpus:
            found.append(
                f'{_who(consumer)} {"holds" if held is not None else "uses"}'
                f' VCPU={vcpus}, but no host cell of the node has shared '
                f'CPUs in {SOURCE} (cpu_dedicated_set without '
                'cpu_shared_set: nova reports no VCPU): no child can take '
                'it; move it off the node (cold migration) or set '
                'cpu_shared_set')
    return found


def _vf_hint(node: Node, consumer: Consumer, held: Mapping[str, int] | None,
             pf_names: Mapping[str, str], warnings: list[str]
             ) -> dict[str, int]:
    want = sum(consumer.vfs.values())
    have = None if held is None else held.get(VF, 0)
    if have == 0:
        warnings.append(f'node {node.name}: {_who(consumer)} uses '
                        f'{text.plural(want, "VF")} but holds no {VF}: '
                        f'no hint')
        return {}
    if have is not None and have != want:
        raise exception.FactsRefused(
            f'{_who(consumer)} holds {VF}={have} on the node, '
            f'but {SOURCE} gives it {text.plural(want, "VF")} '
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
        cells = facts.cells.get(node.name, ())
        if elsewhere == [node.name] and cells:
            raise exception.FactsRefused(
                f'consumer {consumer} holds {_amounts(held)} on the node, '
                f'and nova puts it on a node of this name in another cell: '
                f'the name {node.name} is in nova cells {_and(cells)}, and '
                f'the facts of cell {cells[0]} were used. Rename one of '
                f'the two nodes (their hypervisor_hostname) before pivoting')
        if elsewhere:
            raise exception.FactsRefused(
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


def _role(consumer: Consumer) -> str:
    """What nova's records say a consumer is, for the plan."""
    role = ('instance' if consumer.kind == 'instance' else
            f'{consumer.kind} of instance {consumer.instance}')
    if consumer.move is None:
        return role
    return f'{role}: {consumer.move.text()}'


def _where(split: Mapping[str, Mapping[str, int]],
           classes: Iterable[str]) -> str:
    return ', '.join(f'{rc} {c}: {n}' if len(tuple(classes)) > 1
                     else f'{c}: {n}'
                     for rc in classes
                     for c, n in sorted(split.get(rc, {}).items()))


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


def _and(items: Iterable[str]) -> str:
    found = list(items)
    return ', '.join(found[:-1]) + f' and {found[-1]}' if len(found) > 1 \
        else ''.join(found)
