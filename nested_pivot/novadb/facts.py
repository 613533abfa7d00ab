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

"""What nova's cell database says about its compute nodes, as typed values.

:mod:`nested_pivot.novadb.reader` fills these from nova's own objects;
:mod:`nested_pivot.novadb.build` turns them into layouts and hints.  They
hold no nova object, so that building (and its tests) needs no nova.
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses


@dataclasses.dataclass(frozen=True)
class HostCell:
    """One NUMA cell of a compute node: ``cpus`` shared (VCPU),
    ``pcpus`` dedicated (PCPU), memory in MiB, the host CPUs nova
    records as pinned, and the threads per core (2 with SMT)."""

    id: int
    cpus: int
    pcpus: int
    memory_mb: int
    pinned: frozenset[int] = frozenset()
    threads: int = 1


@dataclasses.dataclass(frozen=True)
class PfRecord:
    """An SR-IOV PF as nova's database records it, from its own row or
    from its VFs' ``parent_addr``; ``physnet`` is None when nothing tells
    it.  (A PF a driver declares for a layout is
    :class:`nested_pivot.layouts.PhysicalFunction`.)"""

    address: str
    numa_node: int | None
    vfs: int
    physnet: str | None = None


@dataclasses.dataclass(frozen=True)
class GuestCell:
    """What a consumer uses of one host cell: shared CPUs, dedicated CPUs
    (with an isolated emulator thread's), memory, the host CPUs its vCPUs
    are pinned to, and its ``hw:cpu_thread_policy`` there."""

    host_cell: int
    vcpus: int
    pcpus: int
    memory_mb: int
    pinned: frozenset[int] = frozenset()
    thread_policy: str | None = None


@dataclasses.dataclass(frozen=True)
class CpuRequest:
    """What nova's scheduler asks Placement today for a consumer's flavor
    and image (``nova.scheduler.utils.ResourceRequest``): VCPU and PCPU,
    and the policies that make the numbers."""

    vcpu: int
    pcpu: int
    flavor: str
    policies: tuple[str, ...] = ()

    def amounts(self) -> dict[str, int]:
        return {rc: n for rc, n in (('VCPU', self.vcpu),
                                    ('PCPU', self.pcpu)) if n}

    def why(self) -> str:
        """The request in words: 'flavor f2 with hw:cpu_policy=dedicated
        and hw:emulator_threads_policy=isolate: PCPU=3'."""
        policies = ' and '.join(self.policies)
        amounts = ' '.join(f'{rc}={n}' for rc, n in self.amounts().items())
        return (f"nova's scheduler asks {amounts or 'no CPU'} for flavor "
                f'{self.flavor}' + (f' with {policies}' if policies else ''))


@dataclasses.dataclass(frozen=True)
class Move:
    """A move in progress that a consumer is one side of, from nova's
    migration record: its uuid, type (resize, migration, live-migration,
    evacuation), status, source and destination nodes, and the side the
    consumer holds (``source``, ``destination``)."""

    migration: str
    kind: str
    status: str
    source: str
    dest: str
    side: str

    def text(self) -> str:
        where = ('on the same node' if self.source == self.dest
                 else f'{self.source} -> {self.dest}')
        return (f'{self.kind} {self.migration or "(no uuid yet)"} {where} '
                f'({self.status}): the {self.side} side')


@dataclasses.dataclass(frozen=True)
class Consumer:
    """An allocation's owner on a node as nova knows it: an instance, or
    the migration that holds a moving instance's source allocations.

    ``cells`` is empty when nova records no NUMA topology (a floating
    instance); ``vfs`` counts the VFs nova gave it, by PF address;
    ``request`` is what nova's scheduler asks for it today (None when its
    flavor cannot say); ``move`` the move in progress it is a side of.
    """

    uuid: str
    instance: str
    kind: str = 'instance'
    cells: tuple[GuestCell, ...] = ()
    vfs: Mapping[str, int] = dataclasses.field(default_factory=dict)
    request: CpuRequest | None = None
    move: Move | None = None

    @property
    def dedicated(self) -> int:
        """Dedicated CPUs in all (PCPU)."""
        return sum(c.pcpus for c in self.cells)

    @property
    def shared(self) -> int:
        """Shared CPUs in all (VCPU)."""
        return sum(c.vcpus for c in self.cells)

    @property
    def memory_mb(self) -> int:
        """Memory in all, MiB."""
        return sum(c.memory_mb for c in self.cells)


@dataclasses.dataclass(frozen=True)
class Node:
    """One compute node (``name`` is its hypervisor_hostname) with its
    NUMA cells (none when nova records no topology), allocation ratios,
    the host's reserved amounts, PFs and consumers."""

    name: str
    host: str
    cell: str
    cells: tuple[HostCell, ...]
    cpu_allocation_ratio: float = 1.0
    ram_allocation_ratio: float = 1.0
    reserved_host_cpus: int = 0
    reserved_host_memory_mb: int = 0
    pfs: tuple[PfRecord, ...] = ()
    consumers: Mapping[str, Consumer] = dataclasses.field(
        default_factory=dict)
    cell_uuid: str = ''


@dataclasses.dataclass(frozen=True)
class Facts:
    """Every node read, and for every consumer nova knows, the nodes it
    may hold allocations on (an instance's, a migration's source, a move's
    destination).  ``notes`` are what reading found inconsistent;
    ``refused`` the nodes whose rows cannot be read, with the reason;
    ``cells`` the names found in more than one cell, with those cells
    (the first one's facts are used).

    ``more`` is empty when every cell was read; else it says which option
    reads the cells that were not, and ``located`` gives the cell of each
    host nova's API database maps to a cell that was not read.
    """

    nodes: Mapping[str, Node]
    where: Mapping[str, frozenset[str]] = dataclasses.field(
        default_factory=dict)
    notes: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    refused: Mapping[str, str] = dataclasses.field(default_factory=dict)
    cells: Mapping[str, tuple[str, ...]] = dataclasses.field(
        default_factory=dict)
    cell_mappings: Mapping[str, str] = dataclasses.field(
        default_factory=dict)
    """The cells read through the API database: uuid -> name (empty for
    one ``--nova-db``)."""
    more: str = ''
    located: Mapping[str, str] = dataclasses.field(default_factory=dict)
