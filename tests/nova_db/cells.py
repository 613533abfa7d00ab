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

"""A real nova cell database: its schema made by nova's own migrations,
its rows written through nova's own objects and DB API, as nova-compute
and the conductor write them (a compute node's NUMA topology with its
pinned CPUs, PCI devices, instances with their NUMA topology and PCI
requests, migrations with their migration context).
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import dataclasses
from pathlib import Path
from typing import Any
import uuid as uuidlib
import warnings

from tests.nova_db import templates

with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    from nova import context as nova_context
    from nova import objects
    from nova.db.api import api as api_db
    from nova.db.main import api as main_db

objects.register_all()

CELL_CPUS = 16  # host CPU ids: cell i has i*16 .. i*16+15
VENDOR, PRODUCT = '8086', '154d'


@dataclasses.dataclass
class HostNode:
    """What a test needs to know of a node it made."""

    compute: Any
    topology: Any
    pfs: dict[str, list[str]]  # PF address -> its VF addresses

    @property
    def name(self) -> str:
        return str(self.compute.hypervisor_hostname)


@dataclasses.dataclass(frozen=True)
class Cell:
    """How an instance uses one host cell: shared CPUs, dedicated CPUs,
    memory."""

    host_cell: int
    vcpus: int = 0
    pcpus: int = 0
    memory_mb: int = 512
    pagesize: int | None = None


def migrate(connection: str) -> Any:
    """A context targeting the cell database ``connection``, its schema at
    the head of nova's migrations: a copy of this session's migrated
    template (:mod:`tests.nova_db.templates`), or migrated itself."""
    templates.fresh(connection, 'main')
    ctx = nova_context.get_admin_context()
    mapping = objects.CellMapping(
        uuid=str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, connection)),
        name='cell1', database_connection=connection,
        transport_url='none:///')
    nova_context.set_target_cell(ctx, mapping)
    return ctx


def api_database(connection: str, cells: dict[str, str],
                 hosts: dict[str, list[str]] | None = None,
                 aggregates: dict[str, str] | None = None) -> dict[str, str]:
    """nova's API database with cell0 and ``cells`` (name -> cell DB),
    as nova-manage cell_v2 map_cell0 and create_cell make them, the host
    mappings of ``hosts`` (cell name -> hosts), as discover_hosts makes
    them, and host ``aggregates`` (name -> uuid); cell name -> uuid.

    Made in a process of its own (``python -m tests.nova_db.api``): nova's
    API engine is process-wide, and a test that started it in this
    process (nova's report client, say) would refuse another database.
    """
    import json
    import subprocess
    import sys

    templates.fresh(connection, 'api')
    proc = subprocess.run(
        [sys.executable, '-m', 'tests.nova_db.api', connection],
        input=json.dumps({'cells': cells, 'hosts': hosts or {},
                          'aggregates': aggregates or {}}),
        text=True, capture_output=True, timeout=600, check=False,
        cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr[-3000:]
    found: dict[str, str] = json.loads(proc.stdout)
    return found


@contextlib.contextmanager
def api_engine(connection: str) -> Iterator[None]:
    """nova's API database in this process on ``connection``, while in
    the block; its engine disposed after."""
    from nova import conf as nova_conf
    from oslo_db.sqlalchemy import enginefacade
    from oslo_db.sqlalchemy import test_fixtures

    nova_conf.CONF.set_override('connection', connection,
                                group='api_database')
    try:
        with test_fixtures.ReplaceEngineFacadeFixture(
                api_db.context_manager, enginefacade.transaction_context()):
            api_db.configure(nova_conf.CONF)
            try:
                yield
            finally:
                api_db.context_manager.dispose_pool()
    finally:
        nova_conf.CONF.clear_override('connection', group='api_database')


def make_api_database(connection: str, cells: dict[str, str],
                      hosts: dict[str, list[str]] | None = None) -> None:
    """What :func:`api_database` makes, in this process
    (``tests.nova_db.api`` runs it), on ``connection`` whose schema is
    already at head (:func:`api_database` saw to it)."""
    from nova import rpc

    rpc.get_transport_url()  # registers [DEFAULT] transport_url
    with api_engine(connection):
        ctx = nova_context.get_admin_context()
        objects.CellMapping(
            ctx, uuid=objects.CellMapping.CELL0_UUID, name='cell0',
            database_connection='sqlite://',
            transport_url='none:///').create()
        for name, db in cells.items():
            mapping = objects.CellMapping(
                ctx, uuid=str(uuidlib.uuid4()), name=name,
                database_connection=db, transport_url='none:///')
            mapping.create()
            for host in (hosts or {}).get(name, ()):
                objects.HostMapping(ctx, host=host,
                                    cell_mapping=mapping).create()


class NovaCell:
    """Write a cell's rows through nova's objects."""

    def __init__(self, connection: str) -> None:
        self.connection = connection
        self.ctx = migrate(connection)
        self.nodes: dict[str, HostNode] = {}
        self._pci = 0

    def node(self, name: str, cells: list[tuple[int, int, int]],
             pfs: dict[str, tuple[int, int]] | None = None,
             cpu_ratio: float = 4.0, ram_ratio: float = 1.0,
             host: str | None = None, threads: int = 1) -> HostNode:
        """A compute node with NUMA ``cells`` (shared CPUs, dedicated
        CPUs, MiB each), ``threads`` per core, and ``pfs`` (address ->
        (NUMA node, VFs))."""
        topology = objects.NUMATopology(cells=[
            _host_cell(i, cpus, pcpus, mem, threads)
            for i, (cpus, pcpus, mem) in enumerate(cells)]) if cells \
            else None
        compute = objects.ComputeNode(
            self.ctx, uuid=str(uuidlib.uuid4()), host=host or name,
            hypervisor_hostname=name,
            vcpus=sum(c[0] + c[1] for c in cells),
            memory_mb=sum(c[2] for c in cells), local_gb=1000,
            vcpus_used=0, memory_mb_used=0, local_gb_used=0,
            hypervisor_type='QEMU', hypervisor_version=8002000,
            cpu_info='{}',
            numa_topology=topology._to_json() if topology else None,
            cpu_allocation_ratio=cpu_ratio, ram_allocation_ratio=ram_ratio,
            disk_allocation_ratio=1.0)
        compute.create()
        found = HostNode(compute, topology, {})
        for address, (numa, count) in (pfs or {}).items():
            found.pfs[address] = self._pf(compute, address, numa, count)
        self.nodes[name] = found
        return found

    def _pf(self, compute: Any, address: str, numa: int,
            count: int) -> list[str]:
        self._device(compute, address, 'type-PF', numa)
        bus = address.rsplit(':', 1)[0]
        vfs = [f'{bus}:{0x10 + i:02x}.{i % 8}' for i in range(count)]
        for vf in vfs:
            self._device(compute, vf, 'type-VF', numa, parent=address)
        return vfs

    def _device(self, compute: Any, address: str, kind: str, numa: int,
                parent: str | None = None, **values: Any) -> None:
        main_db.pci_device_update(self.ctx, compute.id, address, {
            'compute_node_id': compute.id, 'address': address,
            'vendor_id': VENDOR, 'product_id': PRODUCT, 'dev_type': kind,
            'parent_addr': parent, 'numa_node': numa,
            'status': 'available', 'instance_uuid': None,
            'dev_id': 'pci_' + address.replace(':', '_').replace('.', '_'),
            'label': f'label_{VENDOR}_{PRODUCT}', 'extra_info': '{}',
            'request_id': None, 'uuid': str(uuidlib.uuid4()), **values})

    def instance(self, node: str, cells: list[Cell] | None = None,
                 vfs: dict[str, int] | None = None,
                 physnet: str = 'physnet1', uuid: str | None = None,
                 emulator_isolate: bool = False,
                 pin: bool = True, save: bool = True,
                 extra_specs: dict[str, str] | None = None,
                 thread_policy: str | None = None) -> str:
        """An instance on ``node``: with ``cells`` a NUMA topology
        (dedicated CPUs pinned on the host cell, which nova records as
        pinned), else floating; ``vfs`` VFs allocated per PF address,
        requested for ``physnet``.  Its flavor asks what its topology
        uses, as nova's API makes sure (``extra_specs`` adds to it)."""
        host = self.nodes[node]
        uuid = uuid or str(uuidlib.uuid4())
        topology = self.topology(host, cells, emulator_isolate, pin,
                                 thread_policy) if cells else None
        requests = []
        for address, count in (vfs or {}).items():
            request = objects.InstancePCIRequest(
                count=count, spec=[{'physical_network': physnet}],
                request_id=str(uuidlib.uuid4()), alias_name=None)
            requests.append(request)
            self._allocate_vfs(host, address, count, uuid,
                               request.request_id)
        instance = objects.Instance(
            self.ctx, uuid=uuid, host=host.compute.host, node=node,
            compute_id=host.compute.id, project_id='project',
            user_id='user', vm_state='active',
            flavor=flavor(cells, emulator_isolate, thread_policy,
                          extra_specs),
            numa_topology=topology,
            pci_requests=objects.InstancePCIRequests(requests=requests))
        instance.create()
        if save:  # the node's pinned CPUs, as nova-compute records them
            self.save(host)
        return uuid

    def topology(self, host: HostNode, cells: list[Cell],
                 emulator_isolate: bool = False, pin: bool = True,
                 thread_policy: str | None = None) -> Any:
        """An instance's NUMA topology on ``host``, pinning its dedicated
        CPUs (and an isolated emulator thread) on the host cells; with
        ``thread_policy='isolate'`` their sibling threads too, as nova
        does."""
        guest = 0
        found = []
        for cell in cells:
            shared = set(range(guest, guest + cell.vcpus))
            dedicated = set(range(guest + cell.vcpus,
                                  guest + cell.vcpus + cell.pcpus))
            guest += cell.vcpus + cell.pcpus
            host_cell = host.topology.cells[cell.host_cell]
            free = sorted(host_cell.pcpuset - host_cell.pinned_cpus)
            if thread_policy == 'isolate' and host_cell.siblings:
                free = [min(core) for core in host_cell.siblings
                        if core <= set(free)]  # one thread per free core
            pinning = dict(zip(sorted(dedicated), free, strict=False))
            reserved = set()
            if emulator_isolate and cell is cells[0]:
                reserved = {free[len(pinning)]}
            if pin and thread_policy == 'isolate':
                host_cell.pin_cpus_with_siblings(set(pinning.values()))
            elif pin:
                host_cell.pin_cpus(set(pinning.values()) | reserved)
            policy = ('mixed' if shared and dedicated else
                      'dedicated' if dedicated else None)
            found.append(objects.InstanceNUMACell(
                id=cell.host_cell, cpuset=shared, pcpuset=dedicated,
                memory=cell.memory_mb, cpu_pinning=pinning or None,
                cpu_policy=policy, cpu_thread_policy=thread_policy,
                cpuset_reserved=reserved or None,
                pagesize=cell.pagesize))
        return objects.InstanceNUMATopology(
            cells=found, emulator_threads_policy='isolate'
            if emulator_isolate else None)

    def _allocate_vfs(self, host: HostNode, address: str, count: int,
                      instance: str, request: str) -> None:
        taken = 0
        for device in objects.PciDeviceList.get_by_compute_node(
                self.ctx, host.compute.id):
            if (device.parent_addr == address and device.status
                    == 'available' and taken < count):
                device.status = 'allocated'
                device.instance_uuid = instance
                device.request_id = request
                device.save()
                taken += 1
        assert taken == count, (address, count)

    def delete(self, instance: str) -> None:
        """Delete ``instance`` as nova-compute's delete does before it
        removes the allocations (``instance.destroy()``)."""
        objects.Instance.get_by_uuid(self.ctx, instance).destroy()

    def save(self, host: HostNode) -> None:
        if host.topology is not None:
            host.compute.numa_topology = host.topology._to_json()
            host.compute.save()

    def migration(self, instance: str, source: str, dest: str,
                  old: list[Cell] | None, new: list[Cell] | None,
                  status: str = 'finished', kind: str = 'resize',
                  new_flavor: Any = None, keep_context: bool = True) -> str:
        """A move in progress of ``instance`` from ``source`` to
        ``dest``, with its migration context (old and new NUMA
        topologies), as the conductor and resize_claim record it; a
        resize to ``new_flavor`` keeps the old one as ``old_flavor``.
        Without ``keep_context`` the instance ends without its migration
        context, as an evacuation's rebuild leaves it."""
        record = objects.Instance.get_by_uuid(
            self.ctx, instance, expected_attrs=['numa_topology', 'flavor'])
        src, dst = self.nodes[source], self.nodes[dest]
        migration = objects.Migration(
            self.ctx, uuid=str(uuidlib.uuid4()), instance_uuid=instance,
            source_compute=src.compute.host, dest_compute=dst.compute.host,
            source_node=source, dest_node=dest, status=status,
            dest_compute_id=dst.compute.id,
            migration_type=kind, dest_host='127.0.0.1',
            old_instance_type_id=1, new_instance_type_id=1)
        migration.create()
        old_topology = (self.topology(src, old) if old
                        else record.numa_topology)
        new_topology = self.topology(dst, new) if new else None
        record.migration_context = objects.MigrationContext(
            instance_uuid=instance, migration_id=migration.id,
            old_numa_topology=old_topology,
            new_numa_topology=new_topology, old_pci_devices=None,
            new_pci_devices=None, old_pci_requests=None,
            new_pci_requests=None, old_resources=None,
            new_resources=None)
        if new_flavor is not None:
            record.old_flavor, record.new_flavor = record.flavor, new_flavor
        if status in ('finished', 'done'):  # the instance now runs on dest
            record.host, record.node = dst.compute.host, dest
            record.compute_id = dst.compute.id
            record.numa_topology = new_topology
            if new_flavor is not None:
                record.flavor = new_flavor
        if not keep_context:
            record.migration_context = None
        record.save()
        self.save(src)
        self.save(dst)
        return str(migration.uuid)


def _host_cell(index: int, cpus: int, pcpus: int, memory_mb: int,
               threads: int = 1) -> Any:
    base = index * CELL_CPUS
    dedicated = sorted(range(base + 8, base + 8 + pcpus))
    siblings = ([set(dedicated[i:i + threads])
                 for i in range(0, len(dedicated), threads)]
                if threads > 1 else [])
    return objects.NUMACell(
        id=index, cpuset=set(range(base, base + cpus)),
        pcpuset=set(dedicated), memory=memory_mb,
        cpu_usage=0, memory_usage=0, pinned_cpus=set(), siblings=siblings,
        mempages=[], socket=index,
        network_metadata=objects.NetworkMetadata(physnets=set(),
                                                 tunneled=False))


def flavor(cells: list[Cell] | None, emulator_isolate: bool = False,
           thread_policy: str | None = None,
           extra_specs: dict[str, str] | None = None,
           name: str | None = None) -> Any:
    """The flavor whose request nova's scheduler turns into what an
    instance of ``cells`` uses (the guest's shared CPUs first)."""
    cells = cells or []
    vcpus = sum(c.vcpus + c.pcpus for c in cells) or 1
    memory = sum(c.memory_mb for c in cells) or 512
    shared = sum(c.vcpus for c in cells)
    dedicated, guest = [], 0
    for cell in cells:  # numbered as topology() numbers them
        dedicated += range(guest + cell.vcpus,
                           guest + cell.vcpus + cell.pcpus)
        guest += cell.vcpus + cell.pcpus
    specs: dict[str, str] = {}
    if dedicated:
        specs['hw:cpu_policy'] = 'mixed' if shared else 'dedicated'
        if shared:
            specs['hw:cpu_dedicated_mask'] = ','.join(map(str, dedicated))
    if emulator_isolate:
        specs['hw:emulator_threads_policy'] = 'isolate'
    if thread_policy:
        specs['hw:cpu_thread_policy'] = thread_policy
    if any(c.pagesize for c in cells):
        specs['hw:mem_page_size'] = str(next(c.pagesize for c in cells
                                             if c.pagesize))
    specs.update(extra_specs or {})
    return objects.Flavor(
        name=name or f'f{vcpus}', flavorid=str(uuidlib.uuid4()),
        memory_mb=memory, vcpus=vcpus, root_gb=10, ephemeral_gb=0, swap=0,
        rxtx_factor=1.0, vcpu_weight=0, disabled=False, is_public=True,
        description=None, extra_specs=specs)
