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

"""nova's own reshape functional tests, passed through nested_pivot.

Each port subclasses nova's test class and inherits its test method
unchanged: nova's assertions are the proof.  What a port replaces is the
hand-written reshape only:

- the libvirt driver's ``_update_provider_tree_for_vgpu``,
  ``_update_provider_tree_for_pcpu`` and
  ``_update_provider_tree_for_memory_encryption`` become calls to
  :func:`nested_pivot.nova.update_provider_tree` with a layout and hints
  built from the same facts nova's code reads (the mdev behind each
  instance, the pinned instances and migrations, the SEV model);
- ``ProviderTreeTests``' fake driver (the test's own
  ``update_provider_tree``, set as the mock's side effect in
  ``_update_provider_tree_multiple_providers``) becomes one that keeps the
  test's sharing-provider setup and calls the hook for the rest.

nova's functions that move allocations by hand are made to fail if
anything calls them.  Only the five tests named in issue 14 run
(:func:`load_tests`).
"""

from __future__ import annotations

import collections
from typing import Any
import unittest

import fixtures
from nova import context as nova_context
from nova import objects
from nova.objects import fields
from nova.tests.functional import test_servers_provider_tree as nova_tree
from nova.tests.functional.libvirt import test_numa_servers
from nova.tests.functional.libvirt import test_reshape as nova_reshape
from nova.virt.libvirt import driver as libvirt_driver
import os_resource_classes as orc
from oslo_config import cfg
from oslo_utils.fixture import uuidsentinel as uuids

from nested_pivot import Child
from nested_pivot import Layout
from nested_pivot import layouts
from nested_pivot.conf import compute as compute_conf
import nested_pivot.nova
from tests.nova_functional.test_pivot import wsgi_paste

CONF = cfg.CONF
DRIVER = 'nova.virt.libvirt.driver.LibvirtDriver.'
_Instance = collections.namedtuple('_Instance', ['uuid', 'name'])
HAND_WRITTEN = ('_reshape_gpu_resources', '_reshape_vgpu_allocations',
                '_reshape_memory_encryption_resources',
                '_reshape_memory_encryption_allocations')


# -- the driver's helpers, as layouts and facts -----------------------------

def vgpu(driver: Any, provider_tree: Any, nodename: str,
         allocations: Any = None) -> None:
    """pGPU children with their VGPU inventory; each instance's vGPUs go
    to the pGPUs behind its mdevs."""
    inventories = {dev: inv for dev, inv in
                   driver._get_gpu_inventories().items() if inv['total']}
    if not inventories:
        return
    layout = layouts.pgpu(
        layouts.PhysicalGPU(dev, vgpus=inv, traits=('OWNER_NOVA',),
                            resource_class=driver.
                            _get_resource_class_for_device(dev))
        for dev, inv in sorted(inventories.items()))

    def hints(consumers: list[str]) -> dict[str, Any]:
        found = {}
        for consumer in consumers:
            mdevs = driver._get_all_assigned_mediated_devices(
                _Instance(consumer, consumer))
            if mdevs:
                found[consumer] = {orc.VGPU: dict(
                    driver._count_vgpus_per_pgpu(list(mdevs)))}
        return found

    nested_pivot.nova.update_provider_tree(provider_tree, nodename, layout,
                                           allocations, hints=hints)


def pcpu(driver: Any, provider_tree: Any, nodename: str,
         allocations: Any = None) -> None:
    """The root reports PCPU; pinned instances (and the migrations of
    pinned instances leaving this host) convert their VCPU to PCPU."""
    if not CONF.compute.cpu_dedicated_set:
        return
    root = provider_tree.data(nodename)
    root_inventory = {**root.inventory, **_cpu_records(driver, root)}
    if 'VCPU' not in _cpu_records(driver, root):
        root_inventory.pop('VCPU', None)
    nested_pivot.nova.update_provider_tree(
        provider_tree, nodename, layouts.pcpu(), allocations,
        root_inventory=root_inventory,
        hints=lambda consumers: layouts.convert(
            set(consumers) & _pinned(nodename)))


def _cpu_records(driver: Any, root: Any) -> dict[str, Any]:
    """VCPU and PCPU as nova's update_provider_tree reports them."""
    vcpus = len(driver._get_vcpu_available())
    pcpus = len(driver._get_pcpu_available())
    ratios = driver._get_allocation_ratios(root.inventory)
    records = {}
    if vcpus:
        records['VCPU'] = {'total': vcpus, 'min_unit': 1, 'max_unit': vcpus,
                           'step_size': 1,
                           'allocation_ratio': ratios[orc.VCPU],
                           'reserved': CONF.reserved_host_cpus}
    if pcpus:
        records['PCPU'] = {'total': pcpus, 'min_unit': 1, 'max_unit': pcpus,
                           'step_size': 1, 'allocation_ratio': 1,
                           'reserved': 0}
    return records


def _pinned(nodename: str) -> set[str]:
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


def memory_encryption(driver: Any, provider_tree: Any, nodename: str,
                      allocations: Any) -> None:
    """MEM_ENCRYPTION_CONTEXT on a child per model (``<node>_amd_sev``),
    which the root's HW_CPU_X86_AMD_SEV leaves with."""
    found = driver._get_memory_encryption_inventories()
    enabled = {model: {k: v for k, v in inv.items() if k != 'traits'}
               for model, inv in found.items() if inv['total']}
    if not enabled:
        return
    layout = layouts.compose(*(layouts.sev(inv, name=model)
                               for model, inv in sorted(enabled.items())))
    nested_pivot.nova.update_provider_tree(provider_tree, nodename, layout,
                                           allocations)


def _init_host(init_host: Any) -> Any:
    def wrapper(driver: Any, host: str) -> Any:
        # A restart in this process is a new nova-compute.
        nested_pivot.nova.forget(driver._host.get_hostname())
        return init_host(driver, host)
    return wrapper


class _Hooked:
    """The libvirt driver with nested_pivot in place of its reshapes."""

    def setUp(self) -> None:
        wsgi_paste(self)
        super().setUp()  # type: ignore[misc]
        use = self.useFixture  # type: ignore[attr-defined]
        compute_conf.register_opts(CONF)
        for name, replacement in (
                ('_update_provider_tree_for_vgpu', vgpu),
                ('_update_provider_tree_for_pcpu', pcpu),
                ('_update_provider_tree_for_memory_encryption',
                 memory_encryption)):
            use(fixtures.MonkeyPatch(DRIVER + name, replacement))
        use(fixtures.MonkeyPatch(DRIVER + 'init_host', _init_host(
            libvirt_driver.LibvirtDriver.init_host)))
        for name in HAND_WRITTEN:
            use(fixtures.MonkeyPatch(DRIVER + name, _forbidden(name)))


def _forbidden(name: str) -> Any:
    def called(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f'nova\'s hand-written {name} was called: '
                             'the port must move every allocation itself')
    return called


class VGPUReshapeTests(_Hooked, nova_reshape.VGPUReshapeTests):
    pass


# nova's SEV reshape (MEM_ENCRYPTION_CONTEXT from the root to a child)
# and its test came after 2025.1: older nova keeps it on the root, with no
# reshape to port.
HAS_SEV_RESHAPE = hasattr(nova_reshape, 'SevResphapeTests')
if HAS_SEV_RESHAPE:
    class SevResphapeTests(_Hooked, nova_reshape.SevResphapeTests):
        pass


class ReshapeForPCPUsTest(_Hooked, test_numa_servers.ReshapeForPCPUsTest):
    pass


# -- ProviderTreeTests: the test's own fake driver, through the hook --------

def _numa(n: int) -> dict[str, Any]:
    return {
        'VCPU': {'total': 10 * n, 'reserved': 0, 'min_unit': 1,
                 'max_unit': 2, 'step_size': 1, 'allocation_ratio': 10.0},
        'MEMORY_MB': {'total': 1048576 * n, 'reserved': 2048,
                      'min_unit': 512, 'max_unit': 131072, 'step_size': 512,
                      'allocation_ratio': 1.0},
    }


def _pf(n: int, p: int) -> Child:
    name = f'pf{n}_{p}'
    return Child(name, parent=f'numa{n}', uuid=getattr(uuids, name),
                 traits=frozenset([f'CUSTOM_PHYSNET_{(n + p) % 2}']),
                 inventory={'SRIOV_NET_VF': {
                     'total': n + p, 'reserved': 0, 'min_unit': 1,
                     'max_unit': 1, 'step_size': 1,
                     'allocation_ratio': 1.0}})


# Two NUMA cells and their PFs; DISK_GB to the sharing provider; the VF
# each instance uses, never allocated before, healed.
TREE = Layout(
    (Child('numa1', uuid=uuids.numa1, inventory=_numa(1)),
     Child('numa2', uuid=uuids.numa2, inventory=_numa(2)),
     *(_pf(n, p) for n in (1, 2) for p in (1, 2))),
    sharing={'DISK_GB': 'ssp'}, heals=frozenset(['SRIOV_NET_VF']))


def _tree_driver(test: Any, original: Any) -> Any:
    """The fake driver's update_provider_tree: the test's sharing provider
    and aggregate, then nested_pivot for every child and every move."""
    host = test.compute.host

    def update_provider_tree(prov_tree: Any, nodename: str,
                             allocations: Any = None) -> None:
        if not prov_tree.exists('ssp'):
            prov_tree.new_root('ssp', uuids.ssp)
        prov_tree.update_traits(
            'ssp', ['MISC_SHARES_VIA_AGGREGATE', 'STORAGE_DISK_SSD'])
        prov_tree.update_aggregates('ssp', [uuids.agg])
        prov_tree.update_inventory('ssp', {'DISK_GB': {'total': 500}})
        prov_tree.update_aggregates(host, [uuids.agg])
        nested_pivot.nova.update_provider_tree(
            prov_tree, nodename, TREE, allocations, root_inventory={},
            hints=lambda consumers: {c: {
                'VCPU': 'numa1', 'MEMORY_MB': 'numa2',
                'heal': {'SRIOV_NET_VF': {'pf1_1': 1}}} for c in consumers})

    return update_provider_tree


class ProviderTreeTests(nova_tree.ProviderTreeTests):
    """The test's fake driver becomes one that calls the hook: whatever
    ``_update_provider_tree_multiple_providers`` sets as the mock's side
    effect is replaced, and that helper's own assertions run unchanged.
    The hook's root mark is off: nova asserts the root's exact traits."""

    def setUp(self) -> None:
        wsgi_paste(self)
        super().setUp()
        compute_conf.register_opts(CONF)
        self.flags(mark_root=False, group='nested_pivot')
        nested_pivot.nova.forget()
        mocked = type(self.mock_upt)
        prop = mocked.side_effect
        test = self

        def set_side_effect(mock_self: Any, value: Any) -> None:
            if callable(value):
                value = _tree_driver(test, value)
            prop.fset(mock_self, value)

        mocked.side_effect = property(prop.fget, set_side_effect)


PORTED = (
    ('VGPUReshapeTests', 'test_create_servers_with_vgpu'),
    ('SevResphapeTests', 'test_create_servers_with_amd_sev'),
    ('SevResphapeTests', 'test_create_servers_with_amd_sev_mixed'),
    ('ReshapeForPCPUsTest', 'test_vcpu_to_pcpu_reshape'),
    ('ProviderTreeTests', 'test_reshape'),
)


class NotInThisNova(unittest.TestCase):
    """A port whose nova test the installed nova does not have: skipped,
    under the port's own name."""

    def __init__(self, port: str) -> None:
        super().__init__('test_port')
        self.port = port

    def id(self) -> str:
        return f'{__name__}.{self.port}'

    def __str__(self) -> str:
        return self.id()

    def test_port(self) -> None:
        self.skipTest('nova 29 and 31 (2024.1, 2025.1) have no SEV '
                      'reshape: MEM_ENCRYPTION_CONTEXT stays on the root')


def load_tests(loader: unittest.TestLoader, tests: Any,
               pattern: Any) -> unittest.TestSuite:
    """Only the five tests of issue 14, not every test of their classes."""
    suite = unittest.TestSuite()
    for cls_name, name in PORTED:
        cls = globals().get(cls_name)
        suite.addTest(cls(name) if cls is not None
                      else NotInThisNova(f'{cls_name}.{name}'))
    return suite
