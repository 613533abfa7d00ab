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

"""Read nova's facts from its cell databases, with nova's own code.

This needs nova installed (``nested_pivot[nova]``); it is imported here
only, and only when facts are read.  Rows are read with nova's DB API and
deserialized with nova's objects, exactly as nova reads them, old
serializations included (an instance pinned before Victoria, its dedicated
CPUs in ``cpuset``, is upgraded in memory by nova's own rule).

nested_pivot never writes nova's database.  nova's objects write some
records back when they load them (a legacy instance NUMA topology, an old
migration or PCI device without a uuid, a compute node without allocation
ratios): those objects are built here from the rows instead, and every
database engine nested_pivot reads through refuses any statement but a
read.
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
from nested_pivot.novadb.facts import CpuRequest
from nested_pivot.novadb.facts import Facts
from nested_pivot.novadb.facts import GuestCell
from nested_pivot.novadb.facts import HostCell
from nested_pivot.novadb.facts import Move
from nested_pivot.novadb.facts import Node
from nested_pivot.novadb.facts import PfRecord

EXTRA = ['flavor', 'pci_requests', 'system_metadata', 'migration_context']
"""The instance fields built from their rows; ``numa_topology`` is read
from its row apart (nova's object writes a legacy one back on load)."""
HELD = ('allocated', 'claimed')
GONE = ('removed', 'deleted')
EVACUATED = ('accepted', 'pre-migrating', 'done')
"""Evacuations from a node whose allocations there nova still holds: the
source compute removes them when it comes back (nova's own filter)."""
_CELL_NAMESPACE = uuidlib.UUID('8c3f6d2e-1b4a-4f7e-9a5d-2e6c0b7f1d39')
_READS = ('select', 'show', 'set ', 'pragma', 'with ', 'begin', 'commit',
          'rollback', 'savepoint', 'release')


@dataclasses.dataclass(frozen=True)
class Source:
    """Where nova's facts are: ``connection`` (one cell database), else
    the config files: every cell through ``[api_database]`` and its cell
    mappings (``cells`` limits them by name), else ``[database]``, one
    cell.  ``all_cells`` insists on every cell."""

    connection: str | None = None
    config_files: Sequence[str] = ()
    all_cells: bool = False
    cells: Sequence[str] = ()


@dataclasses.dataclass(frozen=True)
class _Cells:
    """The cells to read; ``more`` says which option reads the others
    (empty when these are all), ``located`` the cell of hosts left out."""

    cells: list[Any]
    more: str = ''
    located: dict[str, str] = dataclasses.field(default_factory=dict)


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
    chosen = _cells(nova, conf, source, ctx)
    for cell in chosen.cells:
        label = cell.name or cell.uuid
        names.append(f"nova cell {label} "
                     f"({mask(cell.database_connection)})")
        if cell.name and not source.connection:  # from the cell mappings
            mappings[cell.uuid] = cell.name
        with _reading(cell), nova.context.target_cell(ctx, cell) as cctx:
            nova.read_only(cctx)
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
                 cell_mappings=mappings, more=chosen.more,
                 located=chosen.located)


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
            from nova.db.main import api as main_db
            from nova.objects import instance as instance_obj
            from nova.objects import migration as migration_obj
            from nova.pci import whitelist
            from nova.scheduler import utils as scheduler_utils
            from nova.virt import hardware
            from oslo_serialization import jsonutils
            import sqlalchemy
        objects.register_all()
        self.rpc = rpc
        self.conf = conf.CONF
        self.context = context
        self.objects = objects
        self.api_db = api_db
        self.main_db = main_db
        self.instance_obj = instance_obj
        self.migration_obj = migration_obj
        self.whitelist = whitelist
        self.scheduler_utils = scheduler_utils
        self.hardware = hardware
        self.jsonutils = jsonutils
        self.sqlalchemy = sqlalchemy

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

    def read_only(self, ctx: Any) -> None:
        """Every engine reading the database of ``ctx`` (the API database
        without one) refuses all but reads."""
        if ctx is None:
            engines = [self.api_db.get_engine()]
        else:
            engines = [self.main_db.get_engine(use_slave=s, context=ctx)
                       for s in (False, True)]
        event = self.sqlalchemy.event
        for engine in engines:
            if not event.contains(engine, 'before_cursor_execute',
                                  _refuse_writes):
                event.listen(engine, 'before_cursor_execute',
                             _refuse_writes)


def _refuse_writes(conn: Any, cursor: Any, statement: str, parameters: Any,
                   context: Any, executemany: bool) -> None:
    if not statement.lstrip().lower().startswith(_READS):
        raise exception.NovaFactsError(
            reason=f"nested_pivot never writes nova's database; it refused "
                   f'{" ".join(statement.split()[:3])} ...')


_API_CONFIGURED: list[str] = []


def _cells(nova: _Nova, conf: Any, source: Source, ctx: Any) -> _Cells:
    if source.connection:
        if source.cells or source.all_cells:
            raise exception.NovaFactsError(
                reason='--nova-db is one cell database: to choose cells by '
                       'name, give --config-file nova.conf with '
                       '[api_database] connection instead')
        _check(source.connection, '--nova-db')
        return _Cells([_one_cell(nova, source.connection)],
                      '--config-file nova.conf with [api_database] '
                      'connection, instead of --nova-db, reads every cell')
    if conf.api_database.connection:
        return _mapped_cells(nova, conf, ctx, source.cells)
    if source.all_cells or source.cells:
        raise exception.NovaFactsError(
            reason='reading every cell, or cells by name, goes through '
                   "nova's API database: set [api_database] connection in "
                   'the config file')
    if not conf.database.connection:
        raise exception.NovaFactsError(
            reason='say which nova database: --nova-db CONNECTION, or '
                   '--config-file nova.conf with [api_database] connection '
                   '(every cell) or [database] connection (one cell)')
    _check(conf.database.connection, '[database] connection')
    return _Cells([_one_cell(nova, conf.database.connection)],
                  'setting [api_database] connection in the config file '
                  'reads every cell')


def _one_cell(nova: _Nova, connection: str) -> Any:
    return nova.objects.CellMapping(
        uuid=str(uuidlib.uuid5(_CELL_NAMESPACE, connection)), name='',
        database_connection=connection, transport_url='none:///')


def _mapped_cells(nova: _Nova, conf: Any, ctx: Any,
                  wanted: Sequence[str]) -> _Cells:
    connection = conf.api_database.connection
    _check(connection, '[api_database] connection')
    if connection not in _API_CONFIGURED:
        nova.api_db.configure(conf)
        _API_CONFIGURED.append(connection)
    with _reading(None, connection):
        nova.read_only(None)
        cells = [c for c in nova.objects.CellMappingList.get_all(ctx)
                 if not c.is_cell0()]
        hosts = ({m.host: m.cell_mapping.name for m in
                  nova.objects.HostMappingList.get_all(ctx)}
                 if wanted else {})
    for cell in cells:
        _check(cell.database_connection,
               f'the database of nova cell {cell.name or cell.uuid}')
    if not cells:
        raise exception.NovaFactsError(
            reason=f'nova\'s API database {mask(connection)} maps no cell '
                   'but cell0: run nova-manage cell_v2 first')
    if not wanted:
        return _Cells(cells)
    known = {c.name: c for c in cells} | {c.uuid: c for c in cells}
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise exception.NovaFactsError(
            reason=f'nova\'s API database {mask(connection)} maps no cell '
                   f'{", ".join(unknown)}; its cells: '
                   f'{", ".join(sorted(c.name or c.uuid for c in cells))}')
    chosen = list({known[w].uuid: known[w] for w in wanted}.values())
    names = {c.name for c in chosen}
    if len(chosen) == len(cells):
        return _Cells(chosen)
    return _Cells(chosen, 'without --cell every cell is read',
                  {h: c for h, c in hosts.items() if c not in names})


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


@dataclasses.dataclass(frozen=True)
class _Device:
    """A PCI device row, as far as pivots need it."""

    address: str
    dev_type: str
    parent_addr: str | None
    numa_node: int | None
    status: str
    instance_uuid: str | None
    request_id: str | None
    spec_view: Any


@dataclasses.dataclass(frozen=True)
class _Migration:
    """A migration row: ``uuid`` is empty on a record nova has not given
    one yet (it does when it loads it)."""

    uuid: str
    instance_uuid: str
    kind: str
    status: str
    source_node: str
    dest_node: str


class _CellReader:
    """The nodes of one cell database."""

    def __init__(self, nova: _Nova, conf: Any, ctx: Any, cell: str,
                 notes: list[str], cell_uuid: str = '') -> None:
        self.nova = nova
        self.objects = nova.objects
        self.db = nova.main_db
        self.conf = conf
        self.ctx = ctx
        self.cell = cell
        self.cell_uuid = cell_uuid
        self.notes = notes
        self.by_host: dict[str, list[Any]] = {}
        self.by_uuid: dict[str, Any] = {}
        self.topologies: dict[str, Any] = {}
        self.specs = self._specs()
        self.columns = nova.instance_obj._expected_cols(
            [*EXTRA, 'numa_topology'])

    def _specs(self) -> Any:
        try:
            return self.nova.whitelist.Whitelist(self.conf.pci.device_spec)
        except Exception as err:
            self.notes.append(f'[pci] device_spec cannot be read ({err}): '
                              'physnets come from instances alone')
            return self.nova.whitelist.Whitelist()

    def nodes(self) -> Iterator[tuple[str, Node | str]]:
        """Each compute node by name: its facts, or why they cannot be
        read (a row nova cannot load refuses that node only)."""
        for row in self.db.compute_node_get_all(self.ctx):
            name = row['hypervisor_hostname']
            try:
                yield name, self.node(row)
            except exception.BadNovaRow as err:
                yield name, f'node {name}: {err}'

    def node(self, row: Any) -> Node:
        name = row['hypervisor_hostname']
        devices = [d for d in map(self._device, self.db
                                  .pci_device_get_all_by_node(self.ctx,
                                                              row['id']))
                   if d.status not in GONE]
        consumers = self.consumers(row['host'], name, devices)
        conf = self.conf
        return Node(
            name=name, host=row['host'], cell=self.cell,
            cells=self.host_cells(row['numa_topology'], row['id']),
            cpu_allocation_ratio=_ratio(row, conf, 'cpu_allocation_ratio'),
            ram_allocation_ratio=_ratio(row, conf, 'ram_allocation_ratio'),
            reserved_host_cpus=int(conf.reserved_host_cpus),
            reserved_host_memory_mb=int(conf.reserved_host_memory_mb),
            pfs=self.pfs(name, devices),
            consumers={c.uuid: c for c in consumers},
            cell_uuid=self.cell_uuid)

    def host_cells(self, blob: str | None,
                   row_id: int) -> tuple[HostCell, ...]:
        if not blob:
            return ()
        topology = self.objects.NUMATopology
        try:
            if 'nova_object.name' not in blob:  # pre-Liberty, as nova reads
                blob = topology.from_legacy_object(blob)
            cells = topology.obj_from_db_obj(blob).cells
        except Exception as err:
            raise exception.BadNovaRow(
                f'its compute_nodes row (id {row_id}) holds a numa_topology '
                f'that nova cannot read ({_first(err)}): fix or clear that '
                f'row; the node is left as it is') from None
        return tuple(HostCell(id=c.id, cpus=len(c.cpuset),
                              pcpus=len(c.pcpuset), memory_mb=c.memory,
                              pinned=frozenset(c.pinned_cpus),
                              threads=max(map(len, c.siblings), default=1))
                     for c in cells)

    def _device(self, row: Any) -> _Device:
        # Only what devspec matching reads: PciDevice._from_db_object would
        # give a device without a uuid one, in the database.
        view = self.objects.PciDevice(
            vendor_id=row['vendor_id'], product_id=row['product_id'],
            address=row['address'], parent_addr=row['parent_addr'],
            dev_type=row['dev_type'],
            extra_info=self.nova.jsonutils.loads(row['extra_info'] or '{}'))
        return _Device(row['address'], row['dev_type'], row['parent_addr'],
                       row['numa_node'], row['status'],
                       row['instance_uuid'], row['request_id'], view)

    # -- instances ---------------------------------------------------------

    def _instance(self, row: Any) -> Any:
        """The instance of ``row``, as nova's object loads it.

        :raises BadNovaRow: a field of its instance_extra row that nova
            cannot read, named with the instance.
        """
        try:
            instance = self.objects.Instance._from_db_object(
                self.ctx, self.objects.Instance(), row, expected_attrs=EXTRA)
        except Exception as err:
            raise self._bad_field(row, err) from None
        extra = row['extra']  # joined with its numa_topology column
        try:
            self.topologies[instance.uuid] = self._topology(
                instance.uuid, extra['numa_topology'] if extra else None)
        except Exception as err:
            raise _bad_extra(row['uuid'], 'numa_topology', err) from None
        return instance

    def _bad_field(self, row: Any, err: Exception) -> exception.BadNovaRow:
        """Which of the instance's fields nova cannot load, one at a
        time."""
        for field in EXTRA:
            try:
                self.objects.Instance._from_db_object(
                    self.ctx, self.objects.Instance(), row,
                    expected_attrs=[field])
            except Exception as bad:
                return _bad_extra(row['uuid'], field, bad)
        return exception.BadNovaRow(
            f"nova's objects cannot load instance {row['uuid']} "
            f'({_first(err)})')

    def _topology(self, uuid: str, blob: str | None) -> Any:
        """An instance's NUMA topology as nova loads it, without the
        write nova's object makes of a legacy one."""
        if not blob:
            return None
        kind = self.objects.InstanceNUMATopology
        primitive = self.nova.jsonutils.loads(blob)
        if 'nova_object.name' not in primitive:  # pre-Liberty
            return kind(instance_uuid=uuid, cells=[
                self.objects.InstanceNUMACell(
                    id=cell.get('id'),
                    cpuset=self.nova.hardware.parse_cpu_spec(
                        cell.get('cpus', '')),
                    pcpuset=set(), memory=cell.get('mem', {}).get('total', 0),
                    pagesize=cell.get('pagesize'))
                for cell in primitive.get('cells', [])])
        return _upgraded(kind, kind.obj_from_primitive(primitive))

    def instances(self, host: str) -> list[Any]:
        if host not in self.by_host:
            found = [self._instance(r) for r in self.db
                     .instance_get_all_by_host(self.ctx, host,
                                               columns_to_join=self.columns)]
            self.by_host[host] = found
            self.by_uuid.update((i.uuid, i) for i in found)
        return self.by_host[host]

    def instance(self, uuid: str) -> Any:
        if uuid not in self.by_uuid:
            try:
                row = self.db.instance_get_by_uuid(
                    self.ctx, uuid, columns_to_join=self.columns)
            except Exception:
                self.by_uuid[uuid] = None
            else:
                self.by_uuid[uuid] = self._instance(row)
        return self.by_uuid[uuid]

    # -- consumers ---------------------------------------------------------

    def migrations(self, host: str, name: str) -> list[_Migration]:
        """The moves in progress on node ``name``, and the evacuations
        from it whose allocations it still holds (its compute down)."""
        rows = list(self.db.migration_get_in_progress_by_host_and_node(
            self.ctx, host, name))
        rows += [r for r in self.db.migration_get_all_by_filters(
            self.ctx, {'source_compute': host, 'status': list(EVACUATED),
                       'migration_type': 'evacuation'})
                 if r['source_node'] == name]
        found: dict[int, _Migration] = {}
        for row in rows:
            kind = (row['migration_type'] or self.nova.migration_obj
                    .determine_migration_type(row))
            found[row['id']] = _Migration(
                row['uuid'] or '', row['instance_uuid'], kind,
                row['status'], row['source_node'], row['dest_node'])
        return list(found.values())

    def consumers(self, host: str, name: str, devices: list[_Device]
                  ) -> list[Consumer]:
        found: dict[str, Consumer] = {}
        moved_out = set()
        for migration in self.migrations(host, name):
            for consumer in self.moving(name, migration, devices):
                found.setdefault(consumer.uuid, consumer)
            if (migration.source_node == name
                    and migration.dest_node != name
                    and migration.kind != 'evacuation' and migration.uuid):
                moved_out.add(migration.instance_uuid)
        for instance in self.instances(host):
            if instance.node != name or instance.uuid in moved_out:
                continue
            found.setdefault(instance.uuid, self.consumer(
                instance.uuid, instance, self.topologies[instance.uuid],
                devices, instance.flavor))
        return list(found.values())

    def moving(self, name: str, migration: _Migration,
               devices: list[_Device]) -> list[Consumer]:
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
        here = instance.node == name
        current = self.topologies.get(instance.uuid) if here else None
        found = []
        if migration.source_node == name:
            # The instance itself holds the source side of an evacuation,
            # and of a move whose record has no uuid (older than the
            # migration consumers nova has used since Queens).
            itself = migration.kind == 'evacuation' or not migration.uuid
            old = self._moved(context, 'old_numa_topology') or current
            found.append(self.consumer(
                instance.uuid if itself else migration.uuid,
                instance, old, devices,
                _field(instance, 'old_flavor') or instance.flavor,
                kind='instance' if itself else 'migration',
                move=_move(migration, 'source')))
        if migration.dest_node == name:
            new = self._moved(context, 'new_numa_topology') or current
            found.insert(0, self.consumer(
                instance.uuid, instance, new, devices,
                _field(instance, 'new_flavor') or instance.flavor,
                move=_move(migration, 'destination')))
        return found

    def _moved(self, context: Any, name: str) -> Any:
        topology = _field(context, name) if context else None
        if topology is None:
            return None
        return _upgraded(self.objects.InstanceNUMATopology, topology)

    def consumer(self, uuid: str, instance: Any, topology: Any,
                 devices: list[_Device], flavor: Any,
                 kind: str = 'instance', move: Move | None = None
                 ) -> Consumer:
        vfs: dict[str, int] = {}
        for device in devices:
            if (device.instance_uuid == instance.uuid
                    and device.status in HELD
                    and device.dev_type == 'type-VF'
                    and device.parent_addr):
                vfs[device.parent_addr] = vfs.get(device.parent_addr, 0) + 1
        return Consumer(uuid=uuid, instance=instance.uuid, kind=kind,
                        cells=_guest_cells(topology), vfs=vfs,
                        request=self.request(instance, flavor), move=move)

    def request(self, instance: Any, flavor: Any) -> CpuRequest | None:
        """What nova's scheduler asks today for ``flavor`` and the
        instance's image, with nova's own code."""
        if flavor is None:
            return None
        hardware = self.nova.hardware
        try:
            image = self.objects.ImageMeta.from_instance(instance)
            spec = self.objects.RequestSpec(flavor=flavor, image=image,
                                            is_bfv=False)
            asked = self.nova.scheduler_utils.ResourceRequest \
                .from_request_spec(spec).merged_resources()
            policies = [
                f'{key}={value}' for key, value in (
                    ('hw:cpu_policy',
                     hardware.get_cpu_policy_constraint(flavor, image)),
                    ('hw:cpu_thread_policy',
                     hardware.get_cpu_thread_policy_constraint(flavor,
                                                               image)),
                    ('hw:emulator_threads_policy',
                     hardware.get_emulator_thread_policy_constraint(flavor)))
                if value]
        except Exception as err:
            self.notes.append(
                f'instance {instance.uuid}: what nova\'s scheduler asks for '
                f'its flavor {flavor.name} cannot be told ({err}): its NUMA '
                'topology alone is read')
            return None
        return CpuRequest(int(asked.get('VCPU', 0)),
                          int(asked.get('PCPU', 0)), str(flavor.name),
                          tuple(policies))

    # -- PCI ---------------------------------------------------------------

    def pfs(self, node: str, devices: list[_Device]
            ) -> tuple[PfRecord, ...]:
        rows = {d.address: d for d in devices if d.dev_type == 'type-PF'}
        vfs: dict[str, list[_Device]] = {}
        for device in devices:
            if device.dev_type == 'type-VF' and device.parent_addr:
                vfs.setdefault(device.parent_addr, []).append(device)
        found = []
        for address in sorted(set(rows) | set(vfs)):
            mine = vfs.get(address, [])
            row = rows.get(address)
            numa = row.numa_node if row is not None else next(
                (v.numa_node for v in mine if v.numa_node is not None), None)
            found.append(PfRecord(
                address=address, numa_node=numa, vfs=len(mine),
                physnet=self.physnet(node, address, row, mine)))
        return tuple(found)

    def physnet(self, node: str, address: str, row: _Device | None,
                vfs: list[_Device]) -> str | None:
        """The PF's physnet: from [pci] device_spec, else from the PCI
        requests of the instances using its VFs."""
        for device in [*vfs, *([row] if row is not None else [])]:
            spec = self.specs.get_devspec(device.spec_view)
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

    def requested(self, vf: _Device) -> str | None:
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


def _bad_extra(uuid: str, field: str, err: BaseException
               ) -> exception.BadNovaRow:
    return exception.BadNovaRow(
        f'the instance_extra row of instance {uuid} holds a {field} that '
        f'nova cannot read ({_first(err)}): fix or clear that row; the node '
        f'is left as it is')


def _first(err: BaseException) -> str:
    return mask(f'{type(err).__name__}: {err}'.splitlines()[0])[:200]


def _ratio(row: Any, conf: Any, key: str) -> float:
    """A compute node's allocation ratio as nova reads it: an unset one
    (None or 0.0) is the configured one, else the initial one."""
    value = row[key]
    if value in (None, 0.0):
        value = getattr(conf, key) or getattr(conf, f'initial_{key}')
    return float(value)


def _upgraded(kind: Any, topology: Any) -> Any:
    """``topology`` with nova's in-memory upgrade of cells written before
    Victoria (dedicated CPUs moved from ``cpuset`` to ``pcpuset``); nova
    writes the result back, nested_pivot never does."""
    kind._migrate_legacy_dedicated_instance_cpuset(topology)
    return topology


def _move(migration: _Migration, side: str) -> Move:
    return Move(migration.uuid, migration.kind, migration.status,
                migration.source_node, migration.dest_node, side)


def _guest_cells(topology: Any) -> tuple[GuestCell, ...]:
    if not topology:
        return ()
    cells = []
    for cell in topology.cells:
        reserved = set(_field(cell, 'cpuset_reserved') or ())
        pinning = _field(cell, 'cpu_pinning_raw') or {}
        cells.append(GuestCell(
            host_cell=cell.id, vcpus=len(cell.cpuset),
            pcpus=len(_field(cell, 'pcpuset') or ()) + len(reserved),
            memory_mb=cell.memory,
            pinned=frozenset(int(c) for c in pinning.values()) | reserved,
            thread_policy=_field(cell, 'cpu_thread_policy')))
    return tuple(cells)


def _field(obj: Any, name: str) -> Any:
    """A versioned object's field, None when unset."""
    if obj is None or not obj.obj_attr_is_set(name):
        return None
    return getattr(obj, name)
