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

"""nova's test_servers_resource_request.py, with pivots and rollbacks of
every compute node between the test's steps, checked against neutron's
providers.

Here neutron's QoS bandwidth and packet-rate providers (the OVS agent and
bridge, the SR-IOV agent and its PFs) hang under each compute root, and
instances hold allocations on them.  Whenever a test has waited for a
server to reach a settled state (:data:`SETTLED`), each running compute
node makes a round trip, as an operator's upgrade and its rollback would:

1. a restart with its fake driver reporting two NUMA cells through the
   hook (``pivot_mode = startup``): VCPU and MEMORY_MB move from the root
   to the cells, in nova's own start-up flow (ReshapeNeeded, the
   allocations, one POST /reshaper by nova's report client);
2. a restart with ``pivot_mode = off``: everything moves back;
3. the driver reports flat again, as nova's fake driver does.

After the pivot: neutron's providers have the same parent, inventory,
traits and, per consumer, the same allocations as before; every
consumer holds the same amount of each class as before, and nothing of
VCPU or MEMORY_MB on the root.  After the rollback: the whole tree and
every consumer's allocations (on this host and elsewhere, e.g. a source
host mid-migration) are as before.  Then nova's own assertions run on the
rolled-back node, unchanged.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any

import fixtures
from nova import context as nova_context
from nova.tests.functional import test_servers_resource_request as nova_rr
from nova.virt import fake
from oslo_config import cfg

from nested_pivot import nova as hook
from nested_pivot.conf import compute as compute_conf
from tests.nova_functional.test_pivot import _Capture
from tests.nova_functional.test_pivot import numa_layout
from tests.nova_functional.test_pivot import wsgi_paste

CONF = cfg.CONF
VERSION = '1.39'
CELLS = ('NUMA0', 'NUMA1')
MOVED = frozenset({'VCPU', 'MEMORY_MB'})
SETTLED = frozenset({'ACTIVE', 'VERIFY_RESIZE', 'SHUTOFF', 'SHELVED',
                     'SHELVED_OFFLOADED', 'PAUSED', 'SUSPENDED', 'ERROR'})
_FLAT_UPDATE = fake.FakeDriver.update_provider_tree

COUNTS: collections.Counter[str] = collections.Counter()
"""Pivots, rollbacks, consumers moved, and the allocations on neutron's
providers (one per consumer and provider) each round trip checked."""


def summary() -> list[str]:
    """Printed by ``python -m tests.nova_functional`` after the module."""
    return [f'{COUNTS["neutron allocations"]} allocations on neutron\'s '
            f'providers unchanged across {COUNTS["pivots"]} pivots and '
            f'{COUNTS["rollbacks"]} rollbacks; '
            f'{COUNTS["consumers moved"]} consumers moved and back']


# -- the fake driver, nested through the hook --------------------------------

def _update_provider_tree(driver: Any, provider_tree: Any, nodename: str,
                          allocations: Any = None) -> None:
    """nova's fake driver; while a round trip runs (``_nested_pivot`` set)
    its flat inventory goes through the hook with two NUMA cells."""
    concern = getattr(driver, '_nested_pivot', None)
    if concern is None:
        _FLAT_UPDATE(driver, provider_tree, nodename, allocations)
        return
    capture = _Capture(dict(provider_tree.data(nodename).inventory))
    _FLAT_UPDATE(driver, capture, nodename)
    concern.update_provider_tree(
        provider_tree, nodename, allocations,
        layout=numa_layout(capture.inventory),
        root_inventory=capture.inventory)


# -- what Placement holds ----------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Provider:
    name: str
    parent: str | None
    inventory: dict[str, Any]
    traits: frozenset[str]
    usages: dict[str, dict[str, int]]  # consumer -> class -> amount


@dataclasses.dataclass(frozen=True)
class Node:
    """A compute node's tree and the whole allocations of its consumers."""

    root: str
    providers: dict[str, Provider]
    consumers: dict[str, dict[str, dict[str, int]]]  # -> provider -> class

    def neutron(self) -> dict[str, Provider]:
        return {u: p for u, p in self.providers.items()
                if u != self.root and not p.name.endswith(CELLS)}

    def totals(self, consumer: str) -> collections.Counter[str]:
        found: collections.Counter[str] = collections.Counter()
        for resources in self.consumers[consumer].values():
            found.update(resources)
        return found


class _RoundTrips:
    """Mixed in before nova's test class (see the module's docstring)."""

    def setUp(self: Any) -> None:
        wsgi_paste(self)
        self.useFixture(fixtures.MonkeyPatch(
            'nova.virt.fake.FakeDriver.update_provider_tree',
            _update_provider_tree))
        super().setUp()
        compute_conf.register_opts(CONF)

    def _wait_for_state_change(self: Any, server: Any, expected_status: str,
                               *args: Any, **kwargs: Any) -> Any:
        server = super()._wait_for_state_change(
            server, expected_status, *args, **kwargs)
        if expected_status in SETTLED:
            for host, compute in sorted(self.computes.items()):
                if not compute.manager._shutdown_in_progress.is_set():
                    self._round_trip(host, compute)
        return server

    def _generations(self: Any, root: str) -> dict[str, int]:
        """Every provider of the tree and its generation, which any change
        of its inventory, traits or allocations bumps."""
        return {rp['uuid']: rp['generation'] for rp in self._get(
            f'/resource_providers?in_tree={root}')['resource_providers']}

    def _round_trip(self: Any, host: str, compute: Any) -> None:
        """One pivot and its rollback, unless nothing changed on the node
        since its last round trip in this test."""
        root = self._root(compute)
        seen = self.__dict__.setdefault('_round_tripped', {})
        if seen.get(root) == self._generations(root):
            return
        before = self._node(root)
        self._restart(host, compute, 'startup')
        pivoted = self._node(root)
        self._check_pivoted(before, pivoted)
        COUNTS['pivots'] += 1
        self._restart(host, compute, 'off')
        after = self._node(root)
        self._check_unchanged(before, after)
        COUNTS['rollbacks'] += 1
        compute.manager.driver._nested_pivot = None  # nova's fake driver
        seen[root] = self._generations(root)

    def _root(self: Any, compute: Any) -> str:
        """The compute node's root provider, by name, from Placement: the
        tests that set their own policy rules take the hypervisors API
        away from nova's admin client."""
        nodename, = compute.manager.driver.get_available_nodes()
        found = self._get(f'/resource_providers?name={nodename}')
        return found['resource_providers'][0]['uuid']  # type: ignore[no-any-return]

    def _restart(self: Any, host: str, compute: Any, mode: str) -> None:
        """What a nova-compute start does to the node's providers: the
        resource tracker's start-up update, with a hook that has seen
        nothing yet."""
        self.flags(pivot_mode=mode, group='nested_pivot')
        compute.manager.driver._nested_pivot = hook.Hook()
        ctx = nova_context.get_admin_context()
        cell = self.host_mappings[host].cell_mapping
        with nova_context.target_cell(ctx, cell) as cctxt:
            for nodename in compute.manager.driver.get_available_nodes():
                compute.manager.rt.update_available_resource(
                    cctxt, nodename, startup=True)

    def _get(self: Any, url: str) -> Any:
        return self.placement.get(url, version=VERSION).body

    def _node(self: Any, root: str) -> Node:
        providers = {}
        consumers: set[str] = set()
        for rp in self._get(f'/resource_providers?in_tree={root}')[
                'resource_providers']:
            uuid = rp['uuid']
            usages = {c: a['resources'] for c, a in self._get(
                f'/resource_providers/{uuid}/allocations')[
                'allocations'].items()}
            consumers |= set(usages)
            providers[uuid] = Provider(
                rp['name'], rp['parent_provider_uuid'],
                self._get(f'/resource_providers/{uuid}/inventories')[
                    'inventories'],
                frozenset(self._get(f'/resource_providers/{uuid}/traits')[
                    'traits']),
                usages)
        return Node(root, providers, {c: {
            u: a['resources'] for u, a in self._get(f'/allocations/{c}')[
                'allocations'].items()} for c in sorted(consumers)})

    def _check_pivoted(self: Any, before: Node, pivoted: Node) -> None:
        neutron = before.neutron()
        self.assertEqual(neutron, pivoted.neutron(),
                         'neutron\'s providers changed in the pivot')
        COUNTS['neutron allocations'] += sum(
            len(p.usages) for p in neutron.values())
        cells = set(pivoted.providers) - set(before.providers)
        self.assertEqual(len(CELLS), len(cells), pivoted.providers)
        root = pivoted.providers[pivoted.root]
        self.assertFalse(MOVED & set(root.inventory))
        self.assertEqual(set(before.consumers), set(pivoted.consumers))
        for consumer in before.consumers:
            self.assertEqual(before.totals(consumer),
                             pivoted.totals(consumer), consumer)
            on_root = before.consumers[consumer].get(before.root, {})
            if MOVED & set(on_root):
                COUNTS['consumers moved'] += 1
                self.assertFalse(MOVED & set(
                    pivoted.consumers[consumer].get(pivoted.root, {})))
            for provider, resources in before.consumers[consumer].items():
                if provider != before.root:  # neutron's, or another host's
                    self.assertEqual(
                        resources, pivoted.consumers[consumer].get(provider),
                        f'{consumer} on {provider}')

    def _check_unchanged(self: Any, before: Node, after: Node) -> None:
        self.assertEqual(before.providers, after.providers,
                         'the rollback left the tree changed')
        self.assertEqual(before.consumers, after.consumers,
                         'the rollback left allocations changed')


class UnsupportedPortResourceRequestBasedSchedulingTest(
        _RoundTrips,
        nova_rr.UnsupportedPortResourceRequestBasedSchedulingTest):
    pass


class NonAdminUnsupportedPortResourceRequestBasedSchedulingTest(
        _RoundTrips,
        nova_rr.NonAdminUnsupportedPortResourceRequestBasedSchedulingTest):
    pass


class PortResourceRequestBasedSchedulingTest(
        _RoundTrips, nova_rr.PortResourceRequestBasedSchedulingTest):
    pass


class NonAdminPortResourceRequestTests(
        _RoundTrips, nova_rr.NonAdminPortResourceRequestTests):
    pass


class MultiGroupResourceRequestBasedSchedulingTest(
        _RoundTrips, nova_rr.MultiGroupResourceRequestBasedSchedulingTest):
    pass


class NonAdminMultiGroupResReqTests(
        _RoundTrips, nova_rr.NonAdminMultiGroupResReqTests):
    pass


class ServerMoveWithPortResourceRequestTest(
        _RoundTrips, nova_rr.ServerMoveWithPortResourceRequestTest):
    pass


class NonAdminServerMoveWithPortResourceRequestTests(
        _RoundTrips, nova_rr.NonAdminServerMoveWithPortResourceRequestTests):
    pass


class ServerMoveWithMultiGroupResourceRequestBasedSchedulingTest(
        _RoundTrips,
        nova_rr.ServerMoveWithMultiGroupResourceRequestBasedSchedulingTest):
    pass


class NonAdminServerMoveWithMultiGroupResReqTests(
        _RoundTrips, nova_rr.NonAdminServerMoveWithMultiGroupResReqTests):
    pass


class LiveMigrateAbortWithPortResourceRequestTest(
        _RoundTrips, nova_rr.LiveMigrateAbortWithPortResourceRequestTest):
    pass


class PortResourceRequestReSchedulingTest(
        _RoundTrips, nova_rr.PortResourceRequestReSchedulingTest):
    pass


class CrossCellResizeWithQoSPort(_RoundTrips,
                                 nova_rr.CrossCellResizeWithQoSPort):
    pass


class ExtendedResourceRequestOldCompute(
        _RoundTrips, nova_rr.ExtendedResourceRequestOldCompute):
    pass


class NonAdminExtendedResourceRequestOldCompute(
        _RoundTrips, nova_rr.NonAdminExtendedResourceRequestOldCompute):
    pass
