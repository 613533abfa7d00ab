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

"""Read nova's facts from its cell databases, with nova's own objects.

nova's objects deserialize the NUMA and PCI records exactly as nova does
(old serializations included), so this needs nova installed
(``nested_pivot[nova]``); it is imported here only, and only when facts
are read.  nested_pivot writes nothing there; the reads are the ones
nova's own services and ``nova-manage`` make, so nova's objects may, as on
any read by nova, upgrade a legacy instance NUMA record in place (an
instance pinned before Victoria, its dedicated CPUs moved to ``pcpuset``)
or give an old migration record its uuid.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Sequence
import contextlib
import dataclasses
from typing import Any
import uuid as uuidlib
import warnings

from nested_pivot import dburl
from nested_pivot import exception
from nested_pivot.novadb.facts import Consumer
from nested_pivot.novadb.facts import Facts
from nested_pivot.novadb.facts import GuestCell
from nested_pivot.novadb.facts import HostCell
from nested_pivot.novadb.facts import Node
from nested_pivot.novadb.facts import PhysicalFunction

EXTRA = ['numa_topology', 'pci_requests', 'migration_context']
HELD = ('allocated', 'claimed')
GONE = ('removed', 'deleted')
_CELL_NAMESPACE = uuidlib.UUID('8c3f6d2e-1b4a-4f7e-9a5d-2e6c0b7f1d39')


@dataclasses.dataclass(frozen=True)
class Source:
    """Where nova's facts are: ``connection`` (one cell database), else
    the config files' ``[database] connection``, or with ``all_cells``
    every cell through ``[api_database]`` and its cell mappings."""

    connection: str | None = None
    config_files: Sequence[str] = ()
    all_cells: bool = False


def read(source: Source) -> Facts:
    """Every compute node of the cells ``source`` names, with its
    topology, PCI devices and consumers.

    :raises NovaFactsError: nova is not installed, the configuration or a
        database cannot be read.
    """
    nova = _Nova.load()
    conf = nova.configure(source.config_files)
    ctx = nova.context.get_admin_context()
    found: dict[str, Node] = {}
    where: dict[str, set[str]] = {}
    notes: list[str] = []
    names = []
    refused: dict[str, str] = {}
    cells_of: dict[str, list[str]] = {}
    mappings: dict[str, str] = {}
    for cell in _cells(nova, conf, source, ctx):
        label = cell.name or cell.uuid
        names.append(f"nova cell {label} "
                     f"({mask(cell.database_connection)})")
        if source.all_cells and not source.connection:
            mappings[cell.uuid] = cell.name or ''
        with _reading(cell), nova.context.target_cell(ctx, cell) as cctx:
            reader = _CellReader(nova, conf, cctx, cell.name or '', notes,
                                 cell.uuid)
            for name, node in reader.nodes():
                cells_of.setdefault(name, []).append(label)
                if isinstance(node, str):
                    refused.setdefault(name, node)
                    continue
                found.setdefault(name, node)
                for consumer in node.consumers:
                    where.setdefault(consumer, set()).add(name)
    return Facts(found, {c: frozenset(n) for c, n in where.items()},
                 tuple(notes), tuple(names), refused,
                 {n: tuple(c) for n, c in cells_of.items() if len(c) > 1},
                 cell_mappings=mappings)


mask = dburl.mask


class _Nova:
    """nova's modules, imported once facts are read."""

    def __init__(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            from nova import conf
            from nova import context
            from nova import objects
            from nova import rpc
            from nova.db.api import api as api_db
            from nova.pci import whitelist
        objects.register_all()
        self.rpc = rpc
        self.conf = conf.CONF
        self.context = context
        self.objects = objects
        self.api_db = api_db
        self.whitelist = whitelist

    @classmethod
    def load(cls) -> _Nova:
        try:
            return cls()
        except ImportError as err:
            raise exception.NovaFactsError(
                reason=f"reading nova's database needs nova ({err}): pip "
                       "install 'nested_pivot[nova]' where nova runs") \
                from None

    def configure(self, config_files: Sequence[str]) -> Any:
        from oslo_config import cfg

        args = [a for f in config_files for a in ('--config-file', f)]
        try:
            self.conf(args, project='nova', default_config_files=[],
                      default_config_dirs=[])
        except cfg.Error as err:
            raise exception.NovaFactsError(
                reason=f'bad nova configuration: {mask(str(err))}') from None
        # Cell mappings format their transport URL (never used here) on
        # load, as nova-manage's do: its options must be known.
        self.rpc.get_transport_url()
        return self.conf


_API_CONFIGURED: list[str] = []


def _cells(nova: _Nova, conf: Any, source: Source, ctx: Any) -> list[Any]:
    if source.all_cells and not source.connection:
        return _all_cells(nova, conf, ctx)
    connection = source.connection or conf.database.connection
    if not connection:
        raise exception.NovaFactsError(
            reason='say which nova database: --nova-db CONNECTION, or '
                   '--config-file nova.conf with [database] connection '
                   '(and --all-cells to read every cell through '
                   '[api_database])')
    _check(connection, '--nova-db' if source.connection
           else '[database] connection')
    return [nova.objects.CellMapping(
        uuid=str(uuidlib.uuid5(_CELL_NAMESPACE, connection)), name='',
        database_connection=connection, transport_url='none:///')]


def _all_cells(nova: _Nova, conf: Any, ctx: Any) -> list[Any]:
    connection = conf.api_database.connection
    if not connection:
        raise exception.NovaFactsError(
            reason='--all-cells reads the cells through nova\'s API '
                   'database: set [api_database] connection in the config '
                   'file')
    _check(connection, '[api_database] connection')
    if connection not in _API_CONFIGURED:
        nova.api_db.configure(conf)
        _API_CONFIGURED.append(connection)
    with _reading(None, connection):
        cells = nova.objects.CellMappingList.get_all(ctx)
    found = [c for c in cells if not c.is_cell0()]
    for cell in found:
        _check(cell.database_connection,
               f'the database of nova cell {cell.name or cell.uuid}')
    if not found:
        raise exception.NovaFactsError(
            reason=f'nova\'s API database {mask(connection)} maps no cell '
                   'but cell0: run nova-manage cell_v2 first')
    return found


def _check(connection: str, what: str) -> None:
    """Refuse a URL that would fail or leak (or, for SQLite, create an
    empty database), naming where it came from; mask it from now on."""
    dburl.remember(connection)
    problem = dburl.problem(connection)
    if problem:
        raise exception.NovaFactsError(
            reason=f'{what} {mask(connection)}: {problem}')


@contextlib.contextmanager
def _reading(cell: Any, connection: str | None = None) -> Iterator[None]:
    """Database errors as one line naming the database."""
    try:
        yield
    except exception.PivotError:
        raise
    except Exception as err:
        where = connection or cell.database_connection
        text = f'{type(err).__name__}: {err}'.splitlines()[0]
        raise exception.NovaFactsError(
            reason=f"cannot read nova's database {mask(where)}: "
                   f'{mask(text)}') from None


class _CellReader:
    """The nodes of one cell database."""

    def __init__(self, nova: _Nova, conf: Any, ctx: Any, cell: str,
                 notes: list[str], cell_uuid: str = '') -> None:
        self.nova = nova
        self.objects = nova.objects
        self.conf = conf
        self.ctx = ctx
        self.cell = cell
        self.cell_uuid = cell_uuid
        self.notes = notes
        self.by_host: dict[str, list[Any]] = {}
        self.by_uuid: dict[str, Any] = {}
        self.specs = self._specs()

    def _specs(self) -> Any:
        try:
            return self.nova.whitelist.Whitelist(self.conf.pci.device_spec)
        except Exception as err:
            self.notes.append(f'[pci] device_spec cannot be read ({err}): '
                              'physnets come from instances alone')
            return self.nova.whitelist.Whitelist()

    def nodes(self) -> Iterator[tuple[str, Node | str]]:
        """Each compute node by name: its facts, or why they cannot be
        read (a row nova's objects cannot load refuses that node only)."""
        for compute in self.objects.ComputeNodeList.get_all(self.ctx):
            name = compute.hypervisor_hostname
            try:
                yield name, self.node(compute)
            except BadRow as err:
                yield name, f'node {name}: {err}'

    def node(self, compute: Any) -> Node:
        name = compute.hypervisor_hostname
        devices = [d for d in self.objects.PciDeviceList
                   .get_by_compute_node(self.ctx, compute.id)
                   if d.status not in GONE]
        consumers = self.consumers(compute, devices)
        conf = self.conf
        return Node(
            name=name, host=compute.host, cell=self.cell,
            cells=self.host_cells(compute),
            cpu_allocation_ratio=float(compute.cpu_allocation_ratio
                                       or conf.initial_cpu_allocation_ratio),
            ram_allocation_ratio=float(compute.ram_allocation_ratio
                                       or conf.initial_ram_allocation_ratio),
            reserved_host_cpus=int(conf.reserved_host_cpus),
            reserved_host_memory_mb=int(conf.reserved_host_memory_mb),
            pfs=self.pfs(name, devices),
            consumers={c.uuid: c for c in consumers},
            cell_uuid=self.cell_uuid)

    def host_cells(self, compute: Any) -> tuple[HostCell, ...]:
        if not compute.numa_topology:
            return ()
        try:
            topology = self.objects.NUMATopology.obj_from_db_obj(
                compute.numa_topology)
        except Exception as err:
            raise BadRow(f'its compute_nodes row (id {compute.id}) holds a '
                         f'numa_topology that nova cannot read '
                         f'({_first(err)}): fix or clear that row; the '
                         f'node is left as it is') from None
        return tuple(HostCell(id=c.id, cpus=len(c.cpuset),
                              pcpus=len(c.pcpuset), memory_mb=c.memory,
                              pinned=frozenset(c.pinned_cpus))
                     for c in topology.cells)

    # -- consumers ---------------------------------------------------------

    def instances(self, host: str) -> list[Any]:
        if host not in self.by_host:
            try:
                found = list(self.objects.InstanceList.get_by_host(
                    self.ctx, host, expected_attrs=EXTRA))
            except Exception as err:
                raise self._bad_instance(host, err) from None
            self.by_host[host] = found
            self.by_uuid.update((i.uuid, i) for i in found)
        return self.by_host[host]

    def _bad_instance(self, host: str, err: Exception) -> BadRow:
        """The instance whose row failed the host's listing, found by
        loading its instances one field at a time."""
        for instance in self.objects.InstanceList.get_by_host(
                self.ctx, host, expected_attrs=[]):
            for field in EXTRA:
                try:
                    instance.obj_load_attr(field)
                except Exception as bad:
                    return BadRow(
                        f'the instance_extra row of instance '
                        f'{instance.uuid} holds a {field} that nova cannot '
                        f'read ({_first(bad)}): fix or clear that row; the '
                        f'node is left as it is')
        return BadRow(f"nova's objects cannot load the instances of host "
                      f'{host} ({_first(err)})')

    def instance(self, uuid: str) -> Any:
        if uuid not in self.by_uuid:
            try:
                self.by_uuid[uuid] = self.objects.Instance.get_by_uuid(
                    self.ctx, uuid, expected_attrs=EXTRA)
            except Exception:
                self.by_uuid[uuid] = None
        return self.by_uuid[uuid]

    def consumers(self, compute: Any, devices: list[Any]) -> list[Consumer]:
        name = compute.hypervisor_hostname
        migrations = list(self.objects.MigrationList
                          .get_in_progress_by_host_and_node(
                              self.ctx, compute.host, name))
        found: dict[str, Consumer] = {}
        moved_out = set()
        for migration in migrations:
            for consumer in self.moving(name, migration, devices):
                found.setdefault(consumer.uuid, consumer)
            if (migration.source_node == name
                    and migration.dest_node != name
                    and migration.migration_type != 'evacuation'):
                moved_out.add(migration.instance_uuid)
        for instance in self.instances(compute.host):
            if instance.node != name or instance.uuid in moved_out:
                continue
            found.setdefault(instance.uuid, self.consumer(
                instance.uuid, instance, instance.numa_topology, devices))
        return list(found.values())

    def moving(self, name: str, migration: Any, devices: list[Any]
               ) -> list[Consumer]:
        """The consumers of a move in progress on node ``name``: the
        migration on the source (the instance itself when evacuating),
        the instance on the destination."""
        instance = self.instance(migration.instance_uuid)
        if instance is None:
            self.notes.append(
                f'node {name}: migration {migration.uuid} of instance '
                f'{migration.instance_uuid}, which nova does not have')
            return []
        context = _field(instance, 'migration_context')
        found = []
        if migration.source_node == name:
            uuid = (instance.uuid if migration.migration_type == 'evacuation'
                    else migration.uuid)
            old = _field(context, 'old_numa_topology') if context else None
            topology = old or (instance.numa_topology
                               if instance.node == name else None)
            found.append(self.consumer(uuid, instance, topology, devices,
                                       kind='migration'
                                       if uuid != instance.uuid
                                       else 'instance'))
        if migration.dest_node == name:
            new = _field(context, 'new_numa_topology') if context else None
            topology = new or (instance.numa_topology
                               if instance.node == name else None)
            found.insert(0, self.consumer(instance.uuid, instance, topology,
                                          devices))
        return found

    def consumer(self, uuid: str, instance: Any, topology: Any,
                 devices: list[Any], kind: str = 'instance') -> Consumer:
        vfs: dict[str, int] = {}
        for device in devices:
            if (device.instance_uuid == instance.uuid
                    and device.status in HELD
                    and device.dev_type == 'type-VF'):
                vfs[device.parent_addr] = vfs.get(device.parent_addr, 0) + 1
        return Consumer(uuid=uuid, instance=instance.uuid, kind=kind,
                        cells=_guest_cells(topology), vfs=vfs)

    # -- PCI ---------------------------------------------------------------

    def pfs(self, node: str, devices: list[Any]
            ) -> tuple[PhysicalFunction, ...]:
        rows = {d.address: d for d in devices if d.dev_type == 'type-PF'}
        vfs: dict[str, list[Any]] = {}
        for device in devices:
            if device.dev_type == 'type-VF' and device.parent_addr:
                vfs.setdefault(device.parent_addr, []).append(device)
        found = []
        for address in sorted(set(rows) | set(vfs)):
            mine = vfs.get(address, [])
            row = rows.get(address)
            numa = row.numa_node if row is not None else next(
                (v.numa_node for v in mine if v.numa_node is not None), None)
            found.append(PhysicalFunction(
                address=address, numa_node=numa, vfs=len(mine),
                physnet=self.physnet(node, address, row, mine)))
        return tuple(found)

    def physnet(self, node: str, address: str, row: Any,
                vfs: list[Any]) -> str | None:
        """The PF's physnet: from [pci] device_spec, else from the PCI
        requests of the instances using its VFs."""
        for device in [*vfs, *([row] if row is not None else [])]:
            spec = self.specs.get_devspec(device)
            tag = spec.get_tags().get('physical_network') if spec else None
            if tag:
                return str(tag)
        found = {net for vf in vfs if (net := self.requested(vf))}
        if len(found) > 1:
            self.notes.append(
                f'node {node}: the VFs of PF {address} serve physnets '
                f'{", ".join(sorted(found))}: no physnet trait')
            return None
        return found.pop() if found else None

    def requested(self, vf: Any) -> str | None:
        if not vf.instance_uuid or vf.status not in HELD:
            return None
        instance = self.instance(vf.instance_uuid)
        requests = _field(instance, 'pci_requests') if instance else None
        for request in (requests.requests if requests else ()):
            if request.request_id and request.request_id == vf.request_id:
                for spec in request.spec or ():
                    if spec.get('physical_network'):
                        return str(spec['physical_network'])
        return None


class BadRow(Exception):
    """A row of nova's database that nova's objects cannot load."""


def _first(err: BaseException) -> str:
    return mask(f'{type(err).__name__}: {err}'.splitlines()[0])[:200]


def _guest_cells(topology: Any) -> tuple[GuestCell, ...]:
    if not topology:
        return ()
    cells = []
    for cell in topology.cells:
        reserved = set(_field(cell, 'cpuset_reserved') or ())
        pinning = _field(cell, 'cpu_pinning_raw') or {}
        cells.append(GuestCell(
            host_cell=cell.id, vcpus=len(cell.cpuset),
            pcpus=len(cell.pcpuset) + len(reserved), memory_mb=cell.memory,
            pinned=frozenset(int(c) for c in pinning.values()) | reserved))
    return tuple(cells)


def _field(obj: Any, name: str) -> Any:
    """A versioned object's field, None when unset."""
    if obj is None or not obj.obj_attr_is_set(name):
        return None
    return getattr(obj, name)
