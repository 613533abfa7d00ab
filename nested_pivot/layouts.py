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
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
import dataclasses
from typing import Any

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
           'numa', 'numa_child_name', 'pcpu', 'pgpu', 'place', 'sev',
           'sriov']


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
    """

    name: str
    physnet: str
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
    children = []
    for index, spec in enumerate(cells):
        cell = _coerce(NumaCell, spec)
        inventory = {rc: value for rc, value in (
            ('VCPU', cell.vcpu), ('PCPU', cell.pcpu),
            ('MEMORY_MB', cell.memory_mb)) if value is not None}
        cell_id = index if cell.id is None else cell.id
        children.append(Child(
            name=numa_child_name(cell_id), inventory=inventory,
            traits=frozenset((os_traits.HW_NUMA_ROOT, *cell.traits))))
    return Layout(tuple(children))


def sriov(pfs: Iterable[PhysicalFunction | Mapping[str, Any]]) -> Layout:
    """One child per physical function with SRIOV_NET_VF and its physnet
    trait, under its NUMA cell when ``numa_node`` is given.  The layout
    manages the physnet traits of its PFs: a PF moved to another physical
    network loses the old one."""
    devices = [_coerce(PhysicalFunction, spec) for spec in pfs]
    layout = _devices([
        (pf.name, pf.address, pf.numa_node, {'SRIOV_NET_VF': pf.vfs},
         (names.physnet_trait(pf.physnet), *pf.traits)) for pf in devices])
    return dataclasses.replace(layout, managed_traits=frozenset(
        [names.PHYSNET_TRAITS]))


def pgpu(gpus: Iterable[PhysicalGPU | Mapping[str, Any]]) -> Layout:
    """One child per physical GPU with its VGPU inventory."""
    devices = [_coerce(PhysicalGPU, spec) for spec in gpus]
    return _devices([
        (gpu.name, gpu.address, gpu.numa_node,
         {gpu.resource_class: gpu.vgpus}, gpu.traits) for gpu in devices])


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


DeviceSpec = tuple[str, str | None, int | None, dict[str, InventoryLike],
                   Iterable[str]]
"""name, PCI address, NUMA node, inventory, traits."""


def _devices(specs: Sequence[DeviceSpec]) -> Layout:
    cells = sorted({node for _, _, node, _, _ in specs if node is not None})
    placeholders = [Child(name=numa_child_name(n),
                          traits=frozenset([os_traits.HW_NUMA_ROOT]))
                    for n in cells]
    devices = [Child(name=names.pci_child_name(address) if address else name,
                     parent=None if node is None else numa_child_name(node),
                     inventory=inventory,  # type: ignore[arg-type]
                     traits=frozenset(traits),
                     former=frozenset([name] if address else ()))
               for name, address, node, inventory, traits in specs]
    return Layout(tuple(placeholders + devices))


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
