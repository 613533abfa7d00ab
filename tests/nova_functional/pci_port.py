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

"""nova's PCI-in-placement translator with nested_pivot writing the tree
and the allocations.

nova's ``nova/compute/pci_placement_translator.py`` keeps everything that
decides: which devices are in the view, their resource class and traits,
the one-time-use rules, the totals of devices held while allocated, and
every exception it raises.  What writes is replaced:

- ``PlacementView.update_provider_tree`` becomes one call of a
  :class:`nested_pivot.nova.Hook` (the PCI concern of the node) with a
  layout built from the view: one child per device provider, named by the
  device address as nova names it (``<hypervisor hostname>_<ADDRESS>``),
  with nova's traits (``COMPUTE_MANAGED_PCI_DEVICE`` and ``OWNER_NOVA``
  among them) and nova's inventory (``reserved = total`` while a
  one-time-use device is allocated); the device providers nova no longer
  has in the view are adopted by name, so the hook removes them;
- the allocations nova heals (the missing part of a consumer's allocation
  on a device provider, or a wrong amount) are ``correct`` hints, and the
  hook is called with the allocations nova passes at every update, not
  only at start;
- ``PlacementView.update_allocations`` returns what the hook returned:
  True when it changed the allocations, as nova's function does.

nova's own writers (:data:`HAND_WRITTEN`) fail if anything calls them.

The PCI concern is always nested: nova's ``[pci] report_in_placement``
decides whether it is reported at all, so its hook has a configuration of
its own, with ``pivot_mode = startup``, whatever the node's
``[nested_pivot]`` says.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any

import fixtures
import os_traits
from oslo_config import cfg

from nested_pivot import nova as hook
from nested_pivot.conf import compute as compute_conf
from nested_pivot.layout import Child
from nested_pivot.layout import Layout
from tests.nova_functional import libvirt_port
from tests.nova_functional.test_pivot import skip_differing
from tests.nova_functional.test_pivot import wsgi_paste

MODULE = 'nova.compute.pci_placement_translator.'

HAND_WRITTEN = (
    'PciResourceProvider.update_provider_tree',
    'PciResourceProvider.update_allocations',
    'PlacementView._remove_managed_rps_from_tree_not_in_view',
)
"""nova's PCI translator code that writes the provider tree or the
allocations; only the replaced ``PlacementView`` methods call it."""

CALLED: list[str] = []
"""The guarded writers called in this process, in order."""


CALLS: collections.Counter[str] = collections.Counter()
"""The PCI concern's hook calls, and those that changed allocations."""


def summary() -> list[str]:
    """The concerns' calls since the last summary (then forgotten): the
    libvirt driver's, then the PCI concern's."""
    lines = libvirt_port.summary()
    if CALLS['pci']:
        lines.append(f'pci: {CALLS["pci"]} calls, {CALLS["pci changed"]} '
                     'changed allocations')
    CALLS.clear()
    return lines


class HandWrittenCalled(AssertionError):
    """nova's own PCI writer ran: the port missed a path."""


def _conf() -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    compute_conf.register_opts(conf)
    conf([], project='nested_pivot_pci', default_config_files=[],
         default_config_dirs=[])
    conf.set_override('pivot_mode', 'startup', group='nested_pivot')
    return conf


class _Concern:
    """The PCI concern's hook, one per test: every node it serves is
    nested from its first update."""

    hook: hook.Hook | None = None


CONCERN = _Concern()


def _hook() -> hook.Hook:
    if CONCERN.hook is None:
        CONCERN.hook = hook.Hook(conf=_conf())
    return CONCERN.hook


# -- the view, as a layout and hints ----------------------------------------

def short_name(view: Any, rp_name: str) -> str:
    """The child's name in the layout: the device address, as nova puts it
    after ``<hypervisor hostname>_``."""
    prefix = view.root_rp_name + '_'
    assert rp_name.startswith(prefix), rp_name
    return rp_name[len(prefix):]


def reported(view: Any) -> Iterator[Any]:
    """The view's device providers that keep inventory."""
    return (rp for rp in view.rps.values() if not rp.to_be_deleted)


def managed(provider_tree: Any, nodename: str) -> dict[str, Any]:
    """The node's device providers nova's translator manages, by name."""
    found = {}
    for uuid in provider_tree.get_provider_uuids_in_tree(nodename):
        data = provider_tree.data(uuid)
        if os_traits.COMPUTE_MANAGED_PCI_DEVICE in data.traits:
            found[data.name] = data
    return found


def layout(view: Any, provider_tree: Any) -> Layout:
    """The PCI concern of the node as the view says it: nova's inventory
    and traits on one child per device provider; the device providers the
    view no longer has are adopted (owned, not listed: removed).  The
    concern manages every class on its providers, so a class a device
    leaves (a new resource class in the device spec) leaves its provider.
    """
    children = tuple(
        Child(short_name(view, rp.name), inventory=rp._get_inventories(),
              traits=frozenset(rp.traits or ()) | {os_traits.OWNER_NOVA})
        for rp in reported(view))
    existing = managed(provider_tree, view.root_rp_name)
    listed = {c.name for c in children}
    classes = frozenset(rc for c in children for rc in c.inventory)
    return Layout(
        children,
        adopted=frozenset(short_name(view, name) for name in existing
                          if short_name(view, name) not in listed),
        managed_traits=frozenset(['*']),  # nova sets a device's traits
        heals=classes,
        managed_classes=frozenset(
            rc for data in existing.values() for rc in data.inventory)
        - classes)


def hints(view: Any, allocations: Mapping[str, Any]
          ) -> dict[str, dict[str, Any]]:
    """What nova heals: each consumer holds, on each device provider, as
    many of its class as it has devices there.  Consumers without
    allocations (a migration holds them) and instances in a same-host
    resize are left alone, as nova leaves them."""
    found: dict[str, dict[str, Any]] = {}
    for rp in reported(view):
        for consumer, amount in rp._get_allocations().items():
            if (consumer not in allocations
                    or consumer in view.same_host_instances):
                continue
            correct = found.setdefault(consumer, {'correct': {}})['correct']
            correct.setdefault(rp.resource_class, {})[
                short_name(view, rp.name)] = amount
    return found


# -- the replaced writers ----------------------------------------------------

def update_provider_tree(view: Any, provider_tree: Any,
                         allocations: dict[str, Any]) -> None:
    """``PlacementView.update_provider_tree``: nova's own accounting of
    devices held while allocated, then the hook writes the tree and the
    allocations."""
    usage = view.get_usage_per_rc_and_rp(allocations)
    for rp in view.rps.values():
        # A provider not in the tree yet has no usage to adjust for.
        if provider_tree.exists(rp.name):
            rp._adjust_for_removals_and_held_devices(provider_tree, usage)
    CALLS['pci'] += 1
    view.nested_pivot_changed = _hook().update_provider_tree(
        provider_tree, view.root_rp_name, allocations,
        layout=layout(view, provider_tree), hints=hints(view, allocations))
    CALLS['pci changed'] += bool(view.nested_pivot_changed)
    # As nova does: each device records its provider, which the PCI
    # tracker's pools read next.
    for rp in reported(view):
        if provider_tree.exists(rp.name):
            uuid = provider_tree.data(rp.name).uuid
            for dev in rp.devs:
                dev.extra_info['rp_uuid'] = uuid


def update_allocations(view: Any, allocations: dict[str, Any],
                       provider_tree: Any) -> bool:
    """``PlacementView.update_allocations``: the hook has healed them
    already; True when it changed them."""
    return bool(getattr(view, 'nested_pivot_changed', False))


# -- fixtures ----------------------------------------------------------------

class Guards(libvirt_port.Guards):
    """nova's PCI writers (those named) fail if called."""

    PREFIX = MODULE
    WHAT = 'PCI translator'

    def __init__(self, names: tuple[str, ...] = HAND_WRITTEN) -> None:
        super().__init__(names)

    def _called(self) -> tuple[list[str], type[AssertionError]]:
        return CALLED, HandWrittenCalled


class Port(fixtures.Fixture):
    """The PCI translator's writers replaced by the PCI concern's hook."""

    REPLACED = (('PlacementView.update_provider_tree', update_provider_tree),
                ('PlacementView.update_allocations', update_allocations))

    def _setUp(self) -> None:
        CONCERN.hook = None
        self.addCleanup(setattr, CONCERN, 'hook', None)
        for name, replacement in self.REPLACED:
            self.useFixture(fixtures.MonkeyPatch(MODULE + name, replacement))
        self.useFixture(Guards())


DIFFERING = {
    'PlacementPCIInventoryReportingTests.'
    'test_device_reconfiguration_with_allocations_config_change_stop': (
        "asserts nova's own failure path: nova's translator writes the "
        "device's new class over the allocated one and Placement's 409 "
        "becomes PlacementPciException, which stops nova-compute. The hook "
        "refuses the change before writing anything "
        "(DeviceAllocationStranded names the consumer, the device and the "
        "class), keeps the device's provider and allocation as they are, "
        "and nova-compute starts."),
}
"""nova's tests that assert nova's own internal failure path, by
``<class>.<test>``: skipped, with the reason."""


class Hooked:
    """Mixed in before nova's test class: the libvirt driver's concerns
    (:mod:`tests.nova_functional.libvirt_port`: PCPU, vGPU, memory
    encryption) and the PCI concern go through nested_pivot from the start
    of nova's setUp (its services start through them).  The tests of
    :data:`DIFFERING` are skipped."""

    def setUp(self) -> None:
        skip_differing(self, DIFFERING)
        wsgi_paste(self)
        self.useFixture(libvirt_port.Port())  # type: ignore[attr-defined]
        self.useFixture(Port())  # type: ignore[attr-defined]
        super().setUp()  # type: ignore[misc]


class GuardedOnly:
    """The negative control: nova's own translator, with only the guards
    of :attr:`GUARDED` on."""

    GUARDED: tuple[str, ...] = HAND_WRITTEN

    def setUp(self) -> None:
        wsgi_paste(self)
        self.useFixture(Guards(self.GUARDED))  # type: ignore[attr-defined]
        super().setUp()  # type: ignore[misc]
