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

"""Discover a compute host's layout from Linux sysfs.

``nested-pivot discover`` runs on the compute host and writes a layout file
(see :mod:`nested_pivot.layoutfile`) with one rule, matching that host:

* one ``NUMA<n>`` child per NUMA cell that has CPUs or memory, from
  ``devices/system/node/node<n>/cpulist`` and ``meminfo``: VCPU (every CPU
  of the cell), MEMORY_MB and the trait HW_NUMA_ROOT;
* one child per SR-IOV physical function, from
  ``class/net/<iface>/device/sriov_totalvfs`` (when above 0): SRIOV_NET_VF
  and, when the caller names its physnet, the physnet trait;
* one child per mdev-capable GPU, from ``class/mdev_bus/<address>``:
  VGPU, the ``available_instances`` of the mdev type offering the most,
  since nova enables one type per GPU.  A device whose
  ``bus/pci/devices/<address>/class`` is not a display controller
  (0x03xxxx) is skipped; one without that file is kept.

Both are named after their PCI address, as nova's libvirt driver names its
pGPU providers and as ``--from-nova`` names them
(:func:`nested_pivot.names.pci_child_name`: ``0000:84:00.0`` ->
``pci_0000_84_00_0``).  A PF's address is where
``class/net/<iface>/device`` links to; its interface name is kept as a
former name, so that a child an older release named after the interface
is renamed in place.

A PF goes under its cell's child when its ``numa_node`` names a cell found
above; otherwise under the root.  A GPU goes under the root, where nova's
libvirt driver puts pGPU providers; ``gpus_under_numa`` puts it under its
cell like a PF.  Children come in a fixed order:
cells by number, then PFs by interface name, then GPUs by address.

sysfs tells what the hardware offers, not what the operator intends:
allocation ratios, reserved memory, physnets and mdev types come from the
caller or are defaults, so the written file is a draft to review.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
import functools
import os
from pathlib import Path
import re
from typing import Any
from typing import TypeVar

from nested_pivot import exception
from nested_pivot import layoutfile
from nested_pivot import layouts
from nested_pivot import names
from nested_pivot.layout import Layout

__all__ = ['DiscoveryError', 'discover', 'parse_cpulist', 'pgpu_name',
           'render']

_T = TypeVar('_T')
_NODE_DIR = re.compile(r'node(\d+)')
_CPU_RANGE = re.compile(r'(\d+)(?:-(\d+))?')
_MISSING = (FileNotFoundError, NotADirectoryError)
_DISPLAY_CLASS = 0x03


DiscoveryError = exception.DiscoveryError


def discover(sysfs: str | os.PathLike[str] = '/sys', *, hostname: str,
             physnets: Mapping[str, str] | None = None,
             cpu_allocation_ratio: float = 4.0,
             ram_allocation_ratio: float = 1.0,
             reserved_host_memory_mb: int = 0,
             gpus_under_numa: bool = False) -> dict[str, Any]:
    """The layout-file document of this host: one rule matching
    ``hostname``.

    ``physnets`` maps a PF's interface name (or PCI address) to its
    physical network.
    ``reserved_host_memory_mb`` is reserved on the first cell with memory
    that holds it (NUMA0 on most hosts: :func:`nested_pivot.layouts.reserve`,
    as ``--from-nova`` reserves it); with no such cell the root keeps
    MEMORY_MB and nova reserves it there, so it is left out.

    :raises DiscoveryError: a file is unreadable or malformed, or
        ``physnets`` names an interface that is not an SR-IOV PF.
    :raises InvalidLayout: the arguments make an invalid inventory, e.g.
        more reserved memory than any cell has.
    """
    root = Path(sysfs)
    if not root.is_dir():
        raise DiscoveryError(path=str(root), problem='no such directory')
    cells = layouts.reserve(
        _cells(root, float(cpu_allocation_ratio), float(ram_allocation_ratio)),
        'memory_mb', reserved_host_memory_mb, strict=True)
    known = {cell.id for cell in cells if cell.id is not None}
    pfs = _pfs(root, dict(physnets or {}), known)
    gpus = _gpus(root, known if gpus_under_numa else set())
    children = (*layouts.numa_children(cells), *layouts.sriov_children(pfs),
                *layouts.pgpu_children(gpus))
    return layoutfile.as_document([layoutfile.Rule(
        hostname, Layout(children), {}, str(root),
        listed=tuple(c.name for c in children))])


def render(document: dict[str, Any]) -> str:
    """``document`` as YAML, after a comment header asking for review."""
    hosts = ', '.join(str(rule['match']) for rule in document['layouts'])
    header = [
        f'# Layout of {hosts}, discovered from sysfs by nested-pivot '
        'discover.',
        '# Review before use: allocation ratios, reserved memory and physnet',
        '# traits are defaults or what was given, not read from nova.conf.']
    bare = _pfs_without_physnet(document)
    if bare:
        header.append(f'# No physnet trait on: {", ".join(bare)}.')
    return '\n'.join(header) + '\n' + layoutfile.dump(document)


MAX_CPUS = 65536
"""CPU ids a cpulist may name: 0 to MAX_CPUS - 1 (Linux's NR_CPUS is at
most 8192 today); a larger id is crafted input, not a host."""


def parse_cpulist(text: str) -> tuple[int, ...]:
    """The CPUs of a sysfs cpulist such as ``0-3,8-11``, sorted, unique.

    :raises ValueError: on anything but comma-separated numbers and
        ranges, or a CPU id of :data:`MAX_CPUS` or more.
    """
    cpus: set[int] = set()
    text = text.strip()
    for part in text.split(',') if text else ():
        match = _CPU_RANGE.fullmatch(part.strip())
        if not match:
            raise ValueError(f'bad CPU range {part[:40]!r}')
        first = int(match.group(1))
        last = int(match.group(2) or first)
        if last < first:
            raise ValueError(f'CPU range {part!r} runs backwards')
        if last >= MAX_CPUS:
            raise ValueError(f'CPU range {part[:40]!r} names CPU {last}; a '
                             f'host has at most {MAX_CPUS} CPUs')
        cpus.update(range(first, last + 1))
    return tuple(sorted(cpus))


def pgpu_name(address: str) -> str:
    """nova's libvirt name of a physical GPU: ``pci_0000_84_00_0``
    (:func:`nested_pivot.names.pci_child_name`)."""
    return names.pci_child_name(address)


def _cells(root: Path, cpu_ratio: float, ram_ratio: float
           ) -> list[layouts.NumaCell]:
    return [layouts.NumaCell(
        vcpu={'total': cpus, 'allocation_ratio': cpu_ratio} if cpus
        else None,
        memory_mb={'total': memory_mb, 'allocation_ratio': ram_ratio}
        if memory_mb else None,
        id=cell_id) for cell_id, cpus, memory_mb in _numa_cells(root)]


def _numa_cells(root: Path) -> list[tuple[int, int, int]]:
    """(cell, CPU count, MiB of memory) of each cell with either."""
    nodes = root / 'devices' / 'system' / 'node'
    found = sorted((int(m.group(1)), nodes / name)
                   for name in _listdir(nodes)
                   if (m := _NODE_DIR.fullmatch(name)))
    cells = []
    for cell_id, node in found:
        cpus = len(_parsed(node / 'cpulist', parse_cpulist))
        memory_kb = _parsed(node / 'meminfo',
                            functools.partial(_mem_total_kb, cell_id))
        if cpus or memory_kb // 1024:
            cells.append((cell_id, cpus, memory_kb // 1024))
    return cells


def _mem_total_kb(cell_id: int, text: str) -> int:
    match = re.search(rf'^Node\s+{cell_id}\s+MemTotal:\s+(\d+)\s+kB\s*$',
                      text, re.MULTILINE)
    if not match:
        raise ValueError(f'no "Node {cell_id} MemTotal: <n> kB" line')
    return int(match.group(1))


def _pfs(root: Path, physnets: dict[str, str],
         cells: set[int]) -> list[layouts.PhysicalFunction]:
    net = root / 'class' / 'net'
    pfs = []
    known: set[str] = set()
    for iface in _listdir(net):
        device = net / iface / 'device'
        vfs = _optional_int(device / 'sriov_totalvfs')
        if vfs is None or vfs <= 0:
            continue
        address = _pci_address(device)
        known.update((iface, address))
        pfs.append(layouts.PhysicalFunction(
            name=iface, address=address, vfs={'total': vfs},
            physnet=physnets.get(iface) or physnets.get(address) or None,
            numa_node=_cell(device / 'numa_node', cells)))
    unknown = sorted(set(physnets) - known)
    if unknown:
        raise DiscoveryError(
            path=str(net), problem=f'physnets given for {", ".join(unknown)}'
                                   ', which are not SR-IOV PFs here')
    return pfs


def _pci_address(device: Path) -> str:
    """The PCI address of a network interface's device: the name of the
    directory ``class/net/<iface>/device`` links to."""
    address = os.path.basename(os.path.realpath(device))
    try:
        names.pci_child_name(address)
    except exception.InvalidLayout:
        raise DiscoveryError(
            path=str(device),
            problem=f'not a link to a PCI device (it leads to '
                    f'{address!r}): the PF\'s PCI address names its '
                    'child') from None
    return address.lower()


def _gpus(root: Path, cells: set[int]) -> list[layouts.PhysicalGPU]:
    bus = root / 'class' / 'mdev_bus'
    gpus = []
    for address in _listdir(bus):
        pci = root / 'bus' / 'pci' / 'devices' / address
        if not _is_display(pci / 'class'):
            continue
        vgpus = _most_instances(bus / address / 'mdev_supported_types')
        if vgpus > 0:
            gpus.append(layouts.PhysicalGPU(
                name=pgpu_name(address), address=address,
                vgpus={'total': vgpus},
                numa_node=_cell(pci / 'numa_node', cells)))
    return gpus


def _is_display(path: Path) -> bool:
    pci_class = _optional(path, lambda text: int(text, 16))
    return pci_class is None or pci_class >> 16 == _DISPLAY_CLASS


def _most_instances(types: Path) -> int:
    if not types.is_dir():
        raise DiscoveryError(path=str(types), problem='missing')
    return max((_parsed(types / name / 'available_instances', int)
                for name in _listdir(types)), default=0)


def _cell(numa_node: Path, cells: set[int]) -> int | None:
    """The cell a device's ``numa_node`` names, when it is one of
    ``cells``."""
    node = _optional_int(numa_node)
    return node if node is not None and node in cells else None


def _pfs_without_physnet(document: dict[str, Any]) -> list[str]:
    return [c['name'] + ''.join(f' ({n})' for n in c.get('former_names', ()))
            for rule in document['layouts'] for c in rule['children']
            if 'SRIOV_NET_VF' in c['inventory']
            and not any(t.startswith('CUSTOM_PHYSNET_')
                        for t in c.get('traits', ()))]


def _listdir(path: Path) -> list[str]:
    """The sorted entries of ``path``; none when it does not exist."""
    try:
        return sorted(os.listdir(path))
    except _MISSING:
        return []
    except OSError as err:
        raise DiscoveryError(path=str(path),
                             problem=f'unreadable: {err.strerror}') from None


MAX_FILE = 64 * 1024
"""The most of one sysfs file that is read: sysfs files are small."""


def _read(path: Path) -> str | None:
    """The text of ``path``; None when it does not exist."""
    try:
        if path.stat().st_size > MAX_FILE:
            raise DiscoveryError(path=str(path),
                                 problem=f'larger than {MAX_FILE} bytes, '
                                         f'which no sysfs file is')
        return path.read_text()
    except _MISSING:
        return None
    except (OSError, UnicodeDecodeError) as err:
        raise DiscoveryError(path=str(path),
                             problem=f'unreadable: {err}') from None


def _parsed(path: Path, parse: Callable[[str], _T]) -> _T:
    value = _optional(path, parse)
    if value is None:
        raise DiscoveryError(path=str(path), problem='missing')
    return value


def _optional(path: Path, parse: Callable[[str], _T]) -> _T | None:
    """``path`` parsed, or None when it does not exist."""
    text = _read(path)
    if text is None:
        return None
    try:
        return parse(text.strip())
    except ValueError as err:
        raise DiscoveryError(path=str(path),
                             problem=f'malformed ({err})') from None


def _optional_int(path: Path) -> int | None:
    return _optional(path, int)
