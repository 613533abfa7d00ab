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

"""Ready-made layouts for the real cases: NUMA cells, SR-IOV, physical GPUs.

Each builder returns a :class:`~nested_pivot.layout.Layout`; compose them
with ``+``::

    layout = layouts.numa([cell0, cell1]) + layouts.sriov([pf0, pf1])

A device given a ``numa_node`` is placed under that cell's child
(``NUMA<n>``).  The builder emits an empty placeholder for the cell so the
fragment also stands alone; composing with :func:`numa` fills it in.

These are the one way children are made from a host's facts:
``discover`` (sysfs) and ``discover --from-nova`` (nova's database) build
theirs with :func:`numa_children`, :func:`sriov_children` and
:func:`pgpu_children` (the children alone, in the order given, for a
producer that lists them its own way), reserve the host's amounts with
:func:`reserve`, and write the result with
:func:`nested_pivot.layoutfile.as_document`.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
import dataclasses
from typing import Any
from typing import Literal
from typing import overload
from typing import TypeVar

import os_traits

from nested_pivot import compat
from nested_pivot import exception
from nested_pivot import names
from nested_pivot.layout import Child
from nested_pivot.layout import compose
from nested_pivot.layout import Inventory
from nested_pivot.layout import InventoryLike
from nested_pivot.layout import Layout

__all__ = ['MEMORY_ENCRYPTION_TRAITS', 'NumaCell', 'PhysicalFunction',
           'PhysicalGPU', 'compose', 'convert', 'memory_encryption', 'merge',
           'numa', 'numa_child_name', 'numa_children', 'pcpu', 'pgpu',
           'pgpu_children', 'place', 'reserve', 'sev', 'sriov',
           'sriov_children']


@dataclasses.dataclass(frozen=True)
class NumaCell:
    """One NUMA cell; ``id`` defaults to the cell's position."""

    vcpu: InventoryLike | None = None
    pcpu: InventoryLike | None = None
    memory_mb: InventoryLike | None = None
    id: int | None = None
    traits: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class PhysicalFunction:
    """An SR-IOV physical function offering ``vfs`` virtual functions.

    With ``address`` (its PCI address) the child is named after it, as
    ``discover`` and ``--from-nova`` name it
    (:func:`~nested_pivot.names.pci_child_name`), and ``name`` (its
    interface, say) is its former name: a child made under that name is
    renamed in place.  Without, the child is named ``name``.
    ``physnet`` None: not known, no physnet trait.
    """

    name: str
    physnet: str | None
    vfs: InventoryLike
    numa_node: int | None = None
    traits: tuple[str, ...] = ()
    address: str | None = None


@dataclasses.dataclass(frozen=True)
class PhysicalGPU:
    """A physical GPU offering ``vgpus`` (mdev instances).

    nova's libvirt driver names these children after the PCI address, e.g.
    ``pci_0000_84_00_0``: give ``address`` and the child is named so
    (``name``, if another, is its former name), as with
    :class:`PhysicalFunction`.
    """

    name: str
    vgpus: InventoryLike
    numa_node: int | None = None
    resource_class: str = 'VGPU'
    traits: tuple[str, ...] = ()
    address: str | None = None


Spec = Mapping[str, Any] | Any


def numa_child_name(cell_id: int) -> str:
    return f'NUMA{cell_id}'


def numa(cells: Iterable[NumaCell | Mapping[str, Any]]) -> Layout:
    """One child per NUMA cell with VCPU, PCPU and MEMORY_MB, trait
    HW_NUMA_ROOT."""
    return Layout(numa_children(cells))


def numa_children(cells: Iterable[NumaCell | Mapping[str, Any]]
                  ) -> tuple[Child, ...]:
    """The children of :func:`numa`, in the order of ``cells``."""
    return tuple(_cell_child(index, _coerce(NumaCell, spec))
                 for index, spec in enumerate(cells))


def _cell_child(index: int, cell: NumaCell) -> Child:
    inventory: dict[str, Any] = {rc: value for rc, value in (
        ('VCPU', cell.vcpu), ('PCPU', cell.pcpu),
        ('MEMORY_MB', cell.memory_mb)) if value is not None}
    cell_id = index if cell.id is None else cell.id
    return Child(name=numa_child_name(cell_id), inventory=inventory,
                 traits=frozenset((os_traits.HW_NUMA_ROOT, *cell.traits)))


def sriov(pfs: Iterable[PhysicalFunction | Mapping[str, Any]]) -> Layout:
    """One child per physical function with SRIOV_NET_VF and its physnet
    trait, under its NUMA cell when ``numa_node`` is given.  The layout
    manages the physnet traits of its PFs (a PF moved to another physical
    network loses the old one) when it knows every PF's physnet."""
    devices = [_coerce(PhysicalFunction, spec) for spec in pfs]
    children = sriov_children(devices)
    managed = frozenset([names.PHYSNET_TRAITS]) if all(
        pf.physnet is not None for pf in devices) else frozenset()
    return Layout(_placeholders(pf.numa_node for pf in devices) + children,
                  managed_traits=managed)


def sriov_children(pfs: Iterable[PhysicalFunction | Mapping[str, Any]]
                   ) -> tuple[Child, ...]:
    """The PFs' children of :func:`sriov`, in the order of ``pfs``,
    without placeholders for their cells."""
    return tuple(_device(pf.name, pf.address, pf.numa_node,
                         {'SRIOV_NET_VF': pf.vfs}, _pf_traits(pf))
                 for pf in (_coerce(PhysicalFunction, s) for s in pfs))


def _pf_traits(pf: PhysicalFunction) -> tuple[str, ...]:
    physnet = () if pf.physnet is None else (
        names.physnet_trait(pf.physnet),)
    return (*physnet, *pf.traits)


def pgpu(gpus: Iterable[PhysicalGPU | Mapping[str, Any]]) -> Layout:
    """One child per physical GPU with its VGPU inventory."""
    devices = [_coerce(PhysicalGPU, spec) for spec in gpus]
    return Layout(_placeholders(gpu.numa_node for gpu in devices)
                  + pgpu_children(devices))


def pgpu_children(gpus: Iterable[PhysicalGPU | Mapping[str, Any]]
                  ) -> tuple[Child, ...]:
    """The GPUs' children of :func:`pgpu`, in the order of ``gpus``,
    without placeholders for their cells."""
    return tuple(_device(gpu.name, gpu.address, gpu.numa_node,
                         {gpu.resource_class: gpu.vgpus}, gpu.traits)
                 for gpu in (_coerce(PhysicalGPU, s) for s in gpus))


_S = TypeVar('_S', NumaCell, PhysicalFunction, PhysicalGPU)


@overload
def reserve(specs: Sequence[_S], field: str, amount: int, *,
            strict: Literal[True]) -> list[_S]: ...


@overload
def reserve(specs: Sequence[_S], field: str, amount: int, *,
            strict: bool = False) -> list[_S] | None: ...


def reserve(specs: Sequence[_S], field: str, amount: int, *,
            strict: bool = False) -> list[_S] | None:
    """``specs`` with ``amount`` reserved on the first whose ``field``
    (``memory_mb``, ``vfs``, ...) holds it, its total at least
    ``amount``: a host's reserved amount is reserved once, on one child,
    as nova reserves it once on its flat root.  ``discover`` and
    ``--from-nova`` reserve the host's memory so, on the first cell that
    holds it.

    Nothing to reserve, or no spec with ``field``: ``specs`` as they are
    (the root keeps the class, and nova reserves it there).  None when no
    record holds it alone; with ``strict``, it goes on the first record
    all the same, which refuses it when built (InvalidLayout, naming the
    child, the amount and its total).
    """
    holders = [i for i, spec in enumerate(specs)
               if getattr(spec, field) is not None]
    if not amount or not holders:
        return list(specs)
    fits = [i for i in holders
            if _total(getattr(specs[i], field)) >= amount]
    chosen = fits[:1] or (holders[:1] if strict else [])
    if not chosen:
        return None
    found = list(specs)
    record: dict[str, Any] = {
        field: _reserved(getattr(found[chosen[0]], field), amount)}
    found[chosen[0]] = dataclasses.replace(found[chosen[0]], **record)
    return found


def _total(value: InventoryLike) -> int:
    """The total of a record as given; -1 when it gives none."""
    total = (value.total if isinstance(value, Inventory) else
             value.get('total') if isinstance(value, Mapping) else value)
    return total if isinstance(total, int) else -1


def _reserved(value: InventoryLike, amount: int) -> dict[str, Any]:
    """``value`` as a record with ``amount`` reserved; the fields it left
    out stay out."""
    if isinstance(value, Inventory):
        return {**value.as_dict(), 'reserved': amount}
    if isinstance(value, Mapping):
        return {**value, 'reserved': amount}
    return {'total': value, 'reserved': amount}


MEMORY_ENCRYPTION_TRAITS = compat.known_traits({
    'amd_sev': 'HW_CPU_X86_AMD_SEV',
    'amd_sev_es': 'HW_CPU_X86_AMD_SEV_ES',
    'amd_sev_snp': 'HW_CPU_X86_AMD_SEV_SNP',
    'intel_tdx': 'HW_CPU_X86_INTEL_TDX',
})
"""The trait of each memory-encryption model's child, by nova's model
name (``nova.objects.fields.MemEncryptionModel``, ``-`` as ``_``); only
the models whose trait the installed os-traits has (older releases lack
the newer models' traits: :func:`nested_pivot.compat.known_traits`)."""


def sev(contexts: InventoryLike, name: str = 'amd_sev',
        trait: str | None = None) -> Layout:
    """Memory encryption contexts of one model on a child, as nova's
    libvirt driver reports them since 2025.2: MEM_ENCRYPTION_CONTEXT (one
    per guest) on ``<node>_<name>``, with the model's trait
    (:data:`MEMORY_ENCRYPTION_TRAITS`, or ``trait``) and OWNER_NOVA.
    HW_CPU_X86_AMD_SEV leaves the root, as nova's reshape does.
    """
    if isinstance(contexts, Inventory):
        record = contexts
    elif isinstance(contexts, Mapping):
        record = Inventory.from_value({'max_unit': 1, **contexts})
    else:
        record = Inventory(total=contexts, max_unit=1)
    model_trait = trait or MEMORY_ENCRYPTION_TRAITS.get(name)
    if model_trait is None:
        raise exception.InvalidLayout(
            reason=f'memory encryption model {name!r} has no known trait '
                   f'(known: {", ".join(sorted(MEMORY_ENCRYPTION_TRAITS))})'
                   f'; give trait=')
    return Layout(
        (Child(name, inventory={'MEM_ENCRYPTION_CONTEXT': record},
               traits=frozenset([model_trait, os_traits.OWNER_NOVA])),),
        drop_root_traits=frozenset([os_traits.HW_CPU_X86_AMD_SEV]))


def memory_encryption(models: Mapping[str, InventoryLike]) -> Layout:
    """One child per memory-encryption model (nova's names: amd_sev,
    amd_sev_es, amd_sev_snp, intel_tdx), each with its own trait::

        layouts.memory_encryption({'amd_sev': 15, 'amd_sev_es': 100})

    The flat root held SEV guests only: with an ``amd_sev`` child, they
    go there (``Layout.destinations``), as nova's reshape sends them.
    """
    layout = compose(*(sev(inventory, name=model)
                       for model, inventory in sorted(models.items())))
    if 'amd_sev' not in models:
        return layout
    return dataclasses.replace(layout, destinations={
        'MEM_ENCRYPTION_CONTEXT': 'amd_sev'})


def pcpu(converts: Mapping[str, str] | None = None) -> Layout:
    """Pinned instances stop consuming VCPU and consume PCPU: the layout
    declares the conversion, :func:`convert` names the consumers.  Compose
    it with :func:`numa` cells that carry PCPU, or give the root PCPU
    through the hook's ``root_inventory`` (nova's Train reshape)."""
    return Layout(converts=dict(converts or {'VCPU': 'PCPU'}))


def convert(consumers: Iterable[str], source: str = 'VCPU',
            target: str = 'PCPU') -> dict[str, Any]:
    """Hints: each of ``consumers`` (pinned instances, and the migrations
    of pinned instances) converts ``source`` to ``target``."""
    return {c: {'convert': {source: target}} for c in consumers}


def place(children: Mapping[str, str], resource_class: str | None = None
          ) -> dict[str, Any]:
    """Hints: each consumer's classes (or only ``resource_class``) go to
    the child it maps to, e.g. the pGPU behind each instance's mdev::

        layouts.place({instance: 'pci_0000_84_00_0'}, 'VGPU')
    """
    if resource_class is None:
        return dict(children)
    return {c: {resource_class: child} for c, child in children.items()}


def merge(*hints: Mapping[str, Any]) -> dict[str, Any]:
    """Several hints as one: per consumer, their forms side by side."""
    result: dict[str, Any] = {}
    for part in hints:
        for consumer, hint in part.items():
            mine = result.get(consumer)
            if mine is None:
                result[consumer] = hint
            elif isinstance(mine, Mapping) and isinstance(hint, Mapping):
                result[consumer] = {**mine, **hint}
            else:
                raise exception.InvalidHint(
                    consumer=consumer,
                    reason=f'two hints cannot be merged: {mine!r} and '
                           f'{hint!r}')
    return result


def _device(name: str, address: str | None, numa_node: int | None,
            inventory: Mapping[str, InventoryLike],
            traits: Iterable[str]) -> Child:
    """A PCI device's child: named after ``address`` when given, with
    ``name`` as its former name; under its cell when ``numa_node`` is
    given."""
    return Child(name=names.pci_child_name(address) if address else name,
                 parent=None if numa_node is None
                 else numa_child_name(numa_node),
                 inventory=inventory,  # type: ignore[arg-type]
                 traits=frozenset(traits),
                 former=frozenset([name] if address else ()))


def _placeholders(nodes: Iterable[int | None]) -> tuple[Child, ...]:
    """An empty child for each cell devices go under, so that a fragment
    also stands alone (:func:`numa` fills them in)."""
    cells = sorted({node for node in nodes if node is not None})
    return tuple(Child(name=numa_child_name(n),
                       traits=frozenset([os_traits.HW_NUMA_ROOT]))
                 for n in cells)


def _coerce(kind: type[Any], spec: Spec) -> Any:
    if isinstance(spec, kind):
        return spec
    if not isinstance(spec, Mapping):
        raise exception.InvalidLayout(
            reason=f'expected a {kind.__name__} or a mapping, not {spec!r}')
    try:
        return kind(**spec)
    except TypeError as err:
        raise exception.InvalidLayout(
            reason=f'{kind.__name__}: {err}') from None
