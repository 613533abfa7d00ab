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

"""nova's libvirt driver with nested_pivot in place of its hand-written
reshapes, as the driver guide tells a driver author to write it.

The driver's three helpers become one hook call each, with one
:class:`nested_pivot.nova.Hook` per concern, created in ``init_host``:

- ``_update_provider_tree_for_vgpu``: one child per physical GPU
  (``layouts.pgpu``), each instance's vGPUs placed by hints on the pGPUs
  behind its mediated devices (the fact nova's
  ``_get_assigned_mdevs_for_reshape`` reads); a pGPU the driver no longer
  reports is kept as it is, as nova does;
- ``_update_provider_tree_for_pcpu``: the root's VCPU and PCPU as nova's
  ``update_provider_tree`` reports them, and the pinned instances (and the
  migrations of pinned instances leaving the host) converting their VCPU to
  PCPU, read from nova's database as nova does;
- ``_update_provider_tree_for_memory_encryption``: one child per
  memory-encryption model nova reports (SEV, SEV-ES, SEV-SNP, TDX), with
  its own trait (``layouts.memory_encryption``); the flat root held SEV
  guests only, and their MEM_ENCRYPTION_CONTEXT goes to ``amd_sev``, as
  nova's reshape sends it.

nova's own helpers that build those trees or move allocations by hand
(:data:`HAND_WRITTEN`) are made to fail if anything calls them, and record
the call (:data:`CALLED`): the negative control runs nova's code with only
these guards on.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from collections.abc import MutableMapping
import dataclasses
from typing import Any

import fixtures
from nova import context as nova_context
from nova import exception as nova_exception
from nova import objects
from nova.objects import fields
from nova.virt.libvirt import driver as libvirt_driver
import os_resource_classes as orc
from oslo_config import cfg

from nested_pivot import layouts
from nested_pivot import nova as hook
from nested_pivot.conf import compute as compute_conf
from tests.nova_functional.test_pivot import wsgi_paste

CONF = cfg.CONF
DRIVER = 'nova.virt.libvirt.driver.LibvirtDriver.'
MEC = orc.MEM_ENCRYPTION_CONTEXT
_Instance = collections.namedtuple('_Instance', ['uuid', 'name'])

MOVERS = {
    'vgpu': ('_reshape_gpu_resources', '_reshape_vgpu_allocations',
             '_get_assigned_mdevs_for_reshape',
             '_check_vgpu_allocations_match_real_use'),
    'memory_encryption': ('_reshape_memory_encryption_resources',
                          '_reshape_memory_encryption_allocations'),
}
"""nova 34's libvirt helpers that move allocations by hand, per concern.
The PCPU reshape (Train) has none: it is written inline in
``_update_provider_tree_for_pcpu``, which the port replaces whole."""

HAND_WRITTEN = (
    *MOVERS['vgpu'], *MOVERS['memory_encryption'],
    # the trees they write, and the checks only they make
    '_ensure_pgpu_providers', '_is_reshape_needed_vgpu_on_root',
    '_ensure_memory_encryption_providers',
    '_is_reshape_needed_memory_encryption_on_root',
    '_assert_is_root_provider',
)
"""Every helper that only nova's hand-written reshapes call."""

CALLED: list[str] = []
"""The guarded helpers called in this process, in order."""


CALLS: collections.Counter[str] = collections.Counter()
"""Per concern: hook calls, ReshapeNeeded raised, calls with allocations,
and those that changed them."""


def summary() -> list[str]:
    """The concerns' calls since the last summary (then forgotten)."""
    lines = [f'{concern}: {CALLS[concern]} calls, '
             f'{CALLS[concern + " needed"]} ReshapeNeeded, '
             f'{CALLS[concern + " with allocations"]} with allocations, '
             f'{CALLS[concern + " changed"]} changed them'
             for concern in ('vgpu', 'pcpu', 'memory_encryption')
             if CALLS[concern]]
    CALLS.clear()
    return lines


class HandWrittenCalled(AssertionError):
    """nova's hand-written reshape code ran: the port missed a path."""


@dataclasses.dataclass
class Concerns:
    """The driver's hooks, one per concern, made in ``init_host`` (a
    restart makes a new driver, or calls ``init_host`` again: a new
    nova-compute)."""

    vgpu: hook.Hook = dataclasses.field(default_factory=hook.Hook)
    pcpu: hook.Hook = dataclasses.field(default_factory=hook.Hook)
    memory_encryption: hook.Hook = dataclasses.field(
        default_factory=hook.Hook)


def concerns(driver: Any) -> Concerns:
    found = getattr(driver, '_nested_pivot', None)
    if found is None:
        found = driver._nested_pivot = Concerns()
    return found  # type: ignore[no-any-return]


def _call(driver: Any, concern: str, provider_tree: Any, nodename: str,
          allocations: MutableMapping[str, Any] | None,
          **kwargs: Any) -> None:
    """The concern's hook, counted (:data:`CALLS`)."""
    CALLS[concern] += 1
    try:
        changed = getattr(concerns(driver), concern).update_provider_tree(
            provider_tree, nodename, allocations, **kwargs)
    except nova_exception.ReshapeNeeded:
        CALLS[concern + ' needed'] += 1
        raise
    if allocations is not None:
        CALLS[concern + ' with allocations'] += 1
        CALLS[concern + ' changed'] += bool(changed)


# -- vGPU --------------------------------------------------------------------

def vgpu(driver: Any, provider_tree: Any, nodename: str,
         allocations: Any = None) -> None:
    """pGPU children with their mdev class's inventory; each instance's
    vGPUs go to the pGPUs behind its mdevs."""
    inventories = driver._get_gpu_inventories()
    if not inventories:  # no mdev type enabled: nova leaves the tree alone
        return
    reported = {dev: inv for dev, inv in inventories.items() if inv['total']}
    classes = {dev: driver._get_resource_class_for_device(dev)
               for dev in reported}
    layout = layouts.pgpu(
        layouts.PhysicalGPU(dev, vgpus=inv, traits=('OWNER_NOVA',),
                            resource_class=classes[dev])
        for dev, inv in sorted(reported.items()))
    layout = dataclasses.replace(
        layout, keep=_unreported_pgpus(provider_tree, nodename, inventories),
        managed_classes=frozenset(
            {orc.VGPU, *driver._get_supported_mdev_resource_classes()}))

    def hints(consumers: list[str]) -> dict[str, Any]:
        found = {}
        for consumer in consumers:
            mdevs = driver._get_all_assigned_mediated_devices(
                _Instance(consumer, consumer))
            per_pgpu = driver._count_vgpus_per_pgpu(list(mdevs))
            hint: dict[str, dict[str, int]] = {}
            for dev, count in per_pgpu.items():
                if dev in classes:
                    hint.setdefault(classes[dev], {})[dev] = count
            if hint:
                found[consumer] = hint
        return found

    _call(driver, 'vgpu', provider_tree, nodename, allocations,
          layout=layout, hints=hints)


def _unreported_pgpus(provider_tree: Any, nodename: str,
                      inventories: Mapping[str, Any]) -> frozenset[str]:
    """pGPU children (``<node>_pci_...``) the driver does not report at
    all: nova leaves them as they are (a total of 0 removes one)."""
    prefix = f'{nodename}_'
    names = (provider_tree.data(u).name
             for u in provider_tree.get_provider_uuids(nodename))
    return frozenset(
        name[len(prefix):] for name in names
        if name.startswith(prefix + 'pci_')
        and name[len(prefix):] not in inventories)


# -- PCPU --------------------------------------------------------------------

def pcpu(driver: Any, provider_tree: Any, nodename: str,
         allocations: Any = None) -> None:
    """The root reports PCPU; pinned instances (and the migrations of
    pinned instances leaving this host) convert their VCPU to PCPU."""
    if not CONF.compute.cpu_dedicated_set:
        return
    root = provider_tree.data(nodename)
    records = cpu_records(driver, root)
    root_inventory = {**root.inventory, **records}
    if orc.VCPU not in records:  # every CPU is dedicated
        root_inventory.pop(orc.VCPU, None)
    _call(driver, 'pcpu', provider_tree, nodename, allocations,
          layout=layouts.pcpu(), root_inventory=root_inventory,
          hints=lambda consumers: layouts.convert(
              set(consumers) & pinned(nodename)))


def cpu_records(driver: Any, root: Any) -> dict[str, Any]:
    """VCPU and PCPU as nova's update_provider_tree reports them."""
    vcpus = len(driver._get_vcpu_available())
    pcpus = len(driver._get_pcpu_available())
    ratios = driver._get_allocation_ratios(root.inventory)
    records = {}
    if vcpus:
        records[orc.VCPU] = {
            'total': vcpus, 'min_unit': 1, 'max_unit': vcpus, 'step_size': 1,
            'allocation_ratio': ratios[orc.VCPU],
            'reserved': CONF.reserved_host_cpus}
    if pcpus:
        records[orc.PCPU] = {
            'total': pcpus, 'min_unit': 1, 'max_unit': pcpus, 'step_size': 1,
            'allocation_ratio': 1, 'reserved': 0}
    return records


def pinned(nodename: str) -> set[str]:
    """The consumers whose CPUs are pinned: nova's own facts."""
    ctx = nova_context.get_admin_context()
    node = objects.ComputeNode.get_by_nodename(ctx, nodename)
    dedicated = fields.CPUAllocationPolicy.DEDICATED
    found = {i.uuid for i in objects.InstanceList.get_by_host(
        ctx, node.host, expected_attrs=['numa_topology'])
        if i.numa_topology and i.numa_topology.cpu_policy == dedicated}
    for migration in objects.MigrationList.get_in_progress_by_host_and_node(
            ctx, node.host, node.hypervisor_hostname):
        if not migration.dest_compute or migration.dest_compute == node.host:
            continue
        instance = objects.Instance.get_by_uuid(
            ctx, migration.instance_uuid, expected_attrs=['numa_topology'])
        if instance.numa_topology and \
                instance.numa_topology.cpu_policy == dedicated:
            found.add(migration.uuid)
    return found


# -- memory encryption -------------------------------------------------------

def memory_encryption(driver: Any, provider_tree: Any, nodename: str,
                      allocations: Any) -> None:
    """MEM_ENCRYPTION_CONTEXT on one child per model (``<node>_amd_sev``,
    ``<node>_amd_sev_es``, ...); the root's HW_CPU_X86_AMD_SEV leaves, and
    the flat root's contexts, SEV guests', go to ``amd_sev``
    (``layouts.memory_encryption``).  A model that lost its slots loses its
    child, as in nova (the layout manages MEM_ENCRYPTION_CONTEXT even with
    no model left)."""
    found = driver._get_memory_encryption_inventories()
    if not found:
        return
    enabled = {model: {k: v for k, v in inv.items() if k != 'traits'}
               for model, inv in found.items() if inv['total']}
    layout = dataclasses.replace(layouts.memory_encryption(enabled),
                                 managed_classes=frozenset([MEC]))
    _call(driver, 'memory_encryption', provider_tree, nodename, allocations,
          layout=layout)


# -- the driver, patched -----------------------------------------------------

def _init_host(init_host: Any) -> Any:
    def wrapper(driver: Any, host: str) -> Any:
        driver._nested_pivot = Concerns()  # a new nova-compute
        return init_host(driver, host)
    return wrapper


def _guard(name: str, called: list[str], error: type[AssertionError],
           what: str) -> Any:
    def guarded(*args: Any, **kwargs: Any) -> None:
        called.append(name)
        raise error(f'nova\'s {what} {name} was called: the port must '
                    'build the tree and move every allocation itself')
    return guarded


class Guards(fixtures.Fixture):
    """nova's hand-written reshape helpers (``names``) fail if called.

    The PCI port guards its own code with the same fixture, through the
    class attributes: where the names live, the list each call goes to,
    the error raised and what the helpers are called in it."""

    PREFIX = DRIVER
    WHAT = 'hand-written'

    def __init__(self, names: tuple[str, ...] = HAND_WRITTEN) -> None:
        super().__init__()
        self.names = names

    def _called(self) -> tuple[list[str], type[AssertionError]]:
        return CALLED, HandWrittenCalled

    def _setUp(self) -> None:
        called, error = self._called()
        for name in self.names:
            self.useFixture(fixtures.MonkeyPatch(
                self.PREFIX + name, _guard(name, called, error, self.WHAT)))


class Port(fixtures.Fixture):
    """The libvirt driver's three reshapes replaced by hook calls."""

    REPLACED = (('_update_provider_tree_for_vgpu', vgpu),
                ('_update_provider_tree_for_pcpu', pcpu),
                ('_update_provider_tree_for_memory_encryption',
                 memory_encryption))

    def _setUp(self) -> None:
        compute_conf.register_opts(CONF)
        for name, replacement in self.REPLACED:
            self.useFixture(fixtures.MonkeyPatch(DRIVER + name, replacement))
        self.useFixture(fixtures.MonkeyPatch(DRIVER + 'init_host', _init_host(
            libvirt_driver.LibvirtDriver.init_host)))
        self.useFixture(Guards())


class Hooked:
    """Mixed in before nova's test class: the port is in place from the
    start of nova's setUp (its services start through it)."""

    def setUp(self) -> None:
        wsgi_paste(self)
        self.useFixture(Port())  # type: ignore[attr-defined]
        super().setUp()  # type: ignore[misc]


class GuardedOnly:
    """The negative control: nova's own code, with only the guards of
    :attr:`GUARDED` on."""

    GUARDED: tuple[str, ...] = HAND_WRITTEN

    def setUp(self) -> None:
        wsgi_paste(self)
        self.useFixture(Guards(self.GUARDED))  # type: ignore[attr-defined]
        super().setUp()  # type: ignore[misc]
