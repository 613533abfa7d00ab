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

"""The hook in nova's own functional harness: real nova services, the fake
virt driver and an in-process Placement (nova's PlacementFixture).

Run with stestr or ``python -m testtools.run`` (``tox -e nova``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
import os
import sysconfig
from typing import Any
from unittest import mock

import fixtures
from nova import conf as nova_conf
from nova.scheduler.client import report
from nova.tests.functional import integrated_helpers
from nova.virt import fake

from nested_pivot import layouts
from nested_pivot import nova as hook
from nested_pivot.conf import compute as compute_conf
from nested_pivot.layout import Layout
from nested_pivot.markers import REQUEST_TRAIT

CONF = nova_conf.CONF
HOST = 'host1'
CELLS = ('host1_NUMA0', 'host1_NUMA1')
CPU_MEM = {'VCPU', 'MEMORY_MB'}
WATCHED = ('spawn', 'destroy', 'reboot', 'power_off', 'power_on',
           'resume_state_on_host_boot', 'migrate_disk_and_power_off',
           'finish_migration', 'live_migration')


def numa_layout(flat: dict[str, dict[str, Any]], cells: int = 2) -> Layout:
    """Split the fake driver's flat VCPU and MEMORY_MB into NUMA cells."""

    def share(rc: str) -> dict[str, Any]:
        total, reserved = flat[rc]['total'], flat[rc]['reserved']
        return {'total': total // cells, 'max_unit': total // cells,
                'reserved': reserved // cells,
                'allocation_ratio': flat[rc]['allocation_ratio']}

    cell = layouts.NumaCell(vcpu=share('VCPU'), memory_mb=share('MEMORY_MB'))
    return layouts.numa([cell] * cells)


class _Capture:
    """Just enough of a provider tree to read the fake driver's inventory."""

    def __init__(self, inventory: dict[str, Any]) -> None:
        self.inventory = inventory

    def data(self, _name: str) -> _Capture:
        return self

    def update_inventory(self, _name: str, inventory: dict[str, Any]) -> None:
        self.inventory = inventory


def _watched(name: str) -> Any:
    def method(self: PivotDriver, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(name)
        return getattr(super(PivotDriver, self), name)(*args, **kwargs)
    return method


class PivotDriver(fake.MediumFakeDriver):
    """nova's fake driver; with ``nested`` set, it reports two NUMA cells
    through the hook.  It records the guest operations nova asks of it."""

    nested = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[str] = []

    def init_host(self, host: str) -> None:
        hook.forget(host)  # a restart in this process: a new nova-compute
        super().init_host(host)

    def update_provider_tree(self, provider_tree: Any, nodename: str,
                             allocations: Any = None) -> None:
        if not self.nested:
            super().update_provider_tree(provider_tree, nodename, allocations)
            return
        capture = _Capture(dict(provider_tree.data(nodename).inventory))
        super().update_provider_tree(capture, nodename)
        hook.update_provider_tree(provider_tree, nodename,
                                  numa_layout(capture.inventory), allocations,
                                  root_inventory=capture.inventory)


for _name in WATCHED:
    setattr(PivotDriver, _name, _watched(_name))


def wsgi_paste(test: Any) -> None:
    """nova's wheel installs api-paste.ini under <venv>/etc/nova."""
    paste = os.path.join(sysconfig.get_path('data'), 'etc', 'nova',
                         'api-paste.ini')
    if os.path.exists(paste):
        test.flags(api_paste_config=paste, group='wsgi')


def skip_differing(test: Any, differing: Mapping[str, str]) -> None:
    """Skip a ported nova test that ``differing`` names
    (``<class>.<test>``: the reason), before nova's setUp runs."""
    reason = differing.get(f'{type(test).__name__}.{test._testMethodName}')
    if reason is not None:
        test.skipTest(reason)


class PivotTestCase(integrated_helpers.ProviderUsageBaseTestCase):
    compute_driver = 'fake.PivotDriver'  # nova loads nova.virt.<name>

    def setUp(self) -> None:
        wsgi_paste(self)
        super().setUp()
        self.useFixture(fixtures.MonkeyPatch('nova.virt.fake.PivotDriver',
                                             PivotDriver))
        compute_conf.register_opts(CONF)
        self.compute = self._start_compute(HOST)
        self.root = self._get_provider_uuid_by_host(HOST)
        self.small = self._create_flavor(memory_mb=512, vcpu=2, disk=1,
                                         ephemeral=0)
        self.servers = [self._create_server(flavor_id=self.small,
                                            networks='none')
                        for _ in range(4)]
        self.flat = self._state()
        self.assertEqual([HOST], list(self.flat['inventory']))
        for server in self.servers:
            self.assertEqual({HOST},
                             set(self.flat['allocations'][server['id']]))
        self.driver.calls.clear()

    @property
    def driver(self) -> PivotDriver:
        return self.compute.manager.driver  # type: ignore[no-any-return]

    def _restart(self, **flags: Any) -> None:
        for key, value in flags.items():
            self.flags(**{key: value}, group='nested_pivot')
        self.driver.nested = True
        self.compute = self.computes[HOST] = self.restart_compute_service(
            self.compute)
        self._run_periodics(raise_on_error=True)

    def _state(self) -> dict[str, Any]:
        """The node's tree and every server's allocations, by provider name,
        as Placement holds them."""
        rps = self._get_all_rps_in_a_tree(self.root)
        names = {rp['uuid']: rp['name'] for rp in rps}
        parents = {rp['name']: names.get(rp['parent_provider_uuid'])
                   for rp in rps}
        servers = self.api.get_servers()
        return {
            'inventory': {rp['name']: self._get_provider_inventory(rp['uuid'])
                          for rp in rps},
            'parents': parents,
            'allocations': {s['id']: {
                names[rp]: alloc['resources'] for rp, alloc in
                self._get_allocations_by_server_uuid(s['id']).items()}
                for s in servers},
            'hosts': {s['id']: (s['OS-EXT-SRV-ATTR:host'], s['status'])
                      for s in servers},
        }

    def assertUntouched(self) -> None:
        """No server was moved, rebuilt, rebooted or powered off/on."""
        servers = self.api.get_servers()
        self.assertEqual({s['id'] for s in self.servers},
                         {s['id'] for s in servers})
        for server in servers:
            self.assertEqual((HOST, 'ACTIVE'), (
                server['OS-EXT-SRV-ATTR:host'], server['status']))
            actions = self.api.get_instance_actions(server['id'])
            self.assertEqual(['create'], [a['action'] for a in actions])
        self.assertEqual([], self.api.get_migrations())
        self.assertEqual([], self.driver.calls)
        self.assertCountEqual([s['id'] for s in servers],
                              self.driver.list_instance_uuids())

    def assertPivoted(self, state: dict[str, Any]) -> None:
        inv = state['inventory']
        self.assertEqual({HOST: None, CELLS[0]: HOST, CELLS[1]: HOST},
                         state['parents'])
        self.assertEqual({'DISK_GB'}, set(inv[HOST]))
        for cell in CELLS:
            self.assertEqual(CPU_MEM, set(inv[cell]))
        for rc in CPU_MEM:  # the children add up to the flat record
            self.assertEqual(self.flat['inventory'][HOST][rc]['total'],
                             sum(inv[cell][rc]['total'] for cell in CELLS))
        for server, allocs in state['allocations'].items():
            self.assertEqual(_totals(self.flat['allocations'].get(server)
                                     or allocs), _totals(allocs))
            self.assertEqual({'DISK_GB'}, set(allocs[HOST]))
            self.assertLessEqual(CPU_MEM, set().union(
                *(allocs.get(cell, {}) for cell in CELLS)), allocs)

    def assertFlat(self, state: dict[str, Any]) -> None:
        self.assertEqual({HOST: None}, state['parents'])
        self.assertEqual(self.flat['inventory'], state['inventory'])
        for server, allocs in state['allocations'].items():
            self.assertEqual({HOST}, set(allocs))
            if server in self.flat['allocations']:
                self.assertEqual(self.flat['allocations'][server], allocs)

    def assertRestartChangesNothing(self, **flags: Any) -> dict[str, Any]:
        before = self._state()
        self._restart(**flags)
        after = self._state()
        self.assertEqual(before, after)
        return after


def _totals(allocs: dict[str, dict[str, int]]) -> Counter[str]:
    totals: Counter[str] = Counter()
    for resources in allocs.values():
        totals.update(resources)
    return totals


class TestStartupMode(PivotTestCase):

    def test_pivot_at_restart_in_place(self) -> None:
        self._restart()
        state = self._state()
        self.assertPivoted(state)
        self.assertUntouched()
        # A new server lands on a NUMA child.
        new = self._create_server(flavor_id=self.small, networks='none')
        self.servers.append(new)
        self.assertEqual(['spawn'], self.driver.calls)
        self.driver.calls.clear()
        state = self.assertRestartChangesNothing()
        self.assertPivoted(state)
        self.assertEqual(CPU_MEM, set().union(*(
            state['allocations'][new['id']].get(c, {}) for c in CELLS)))
        self.assertUntouched()


class TestRequestedMode(PivotTestCase):

    def test_flat_until_requested_then_pivot_at_next_restart(self) -> None:
        self.assertRestartChangesNothing(pivot_mode='requested')
        self.assertFlat(self._state())
        # The request, made while the compute runs, waits for a restart.
        self.placement.put(f'/traits/{REQUEST_TRAIT}', {}, version='1.6')
        traits = self._get_provider_traits(self.root)
        self._set_provider_traits(self.root, [*traits, REQUEST_TRAIT])
        self._run_periodics(raise_on_error=True)
        self.assertFlat(self._state())
        self._restart()
        self.assertPivoted(self._state())
        self.assertUntouched()
        self.assertRestartChangesNothing()


class TestOffMode(PivotTestCase):

    def test_off_after_a_pivot_goes_back_to_flat(self) -> None:
        self._restart()
        self.assertPivoted(self._state())
        self._restart(pivot_mode='off')
        self.assertFlat(self._state())
        self.assertUntouched()
        self.assertRestartChangesNothing()


class TestInfeasible(PivotTestCase):

    def test_servers_that_do_not_fit_keep_the_node_flat(self) -> None:
        # 4096 MB fits the flat node (7680 MB usable) but no cell (3840).
        big = self._create_server(flavor_id=self._create_flavor(
            memory_mb=4096, vcpu=1, disk=1, ephemeral=0), networks='none')
        self.servers.append(big)
        self.flat = self._state()
        self.driver.calls.clear()
        self._restart()
        self.assertEqual('up', self.admin_api.get_services(
            binary='nova-compute', host=HOST)[0]['state'])
        self.assertFlat(self._state())
        self.assertUntouched()
        errors = [line for line in self.stdlog.logger.output.splitlines()
                  if 'stays flat' in line]
        self.assertEqual(1, len(errors), errors)
        self.assertIn(big['id'], errors[0])
        for small in self.servers[:-1]:
            self.assertNotIn(small['id'], errors[0])
        # Once the big server is gone, the next start pivots.
        self._delete_server(big)
        self.servers.remove(big)
        self._restart()
        self.assertPivoted(self._state())



class TestReshapeConflict(PivotTestCase):

    def test_pivot_survives_one_reshape_conflict(self) -> None:
        """A consumer written between nova's read of the allocations and
        its POST /reshaper (409); nova retries the start-up update."""
        reshape = report.SchedulerReportClient._reshape
        server, calls = self.servers[0]['id'], []

        def racing(client: Any, *args: Any) -> Any:
            calls.append(args)
            if len(calls) == 1:
                url = f'/allocations/{server}'
                body = self.placement.get(url, version='1.28').body
                allocs = body['allocations']
                body['allocations'] = {rp: {'resources': a['resources']}
                                       for rp, a in allocs.items()}
                self.placement.put(url, body, version='1.28')
            return reshape(client, *args)

        with mock.patch.object(report.SchedulerReportClient, '_reshape',
                               racing):
            self._restart()
        self.assertPivoted(self._state())


BRIDGE = f'{HOST}:Open vSwitch agent:br-ex'
BANDWIDTH = {'NET_BW_EGR_KILOBIT_PER_SEC': {'total': 10000},
             'NET_BW_IGR_KILOBIT_PER_SEC': {'total': 10000}}


class TestForeignProviders(PivotTestCase):
    """neutron's bandwidth provider under the compute node, with a server's
    allocation on it, and an operator's trait on a child survive the
    pivot, restarts and the rollback to flat."""

    def setUp(self) -> None:
        super().setUp()
        self.bridge = self._neutron_bridge()
        self.flat = self._state()
        self.foreign = self._foreign()

    def _neutron_bridge(self) -> str:
        rp = self.placement.post('/resource_providers', {
            'name': BRIDGE, 'parent_provider_uuid': self.root},
            version='1.20').body
        self.placement.put(f'/resource_providers/{rp["uuid"]}/inventories',
                           {'resource_provider_generation': rp['generation'],
                            'inventories': BANDWIDTH}, version='1.20')
        self.placement.put('/traits/CUSTOM_PHYSNET_PUBLIC', {},
                           version='1.6')
        self._set_provider_traits(rp['uuid'], ['CUSTOM_PHYSNET_PUBLIC'])
        url = f'/allocations/{self.servers[0]["id"]}'
        body = self.placement.get(url, version='1.28').body
        body['allocations'] = {rp_: {'resources': a['resources']}
                               for rp_, a in body['allocations'].items()}
        body['allocations'][rp['uuid']] = {
            'resources': {'NET_BW_EGR_KILOBIT_PER_SEC': 1000}}
        self.placement.put(url, body, version='1.28')
        return str(rp['uuid'])

    def _foreign(self) -> tuple[Any, ...]:
        rp = self.placement.get(f'/resource_providers/{self.bridge}',
                                version='1.20').body
        held = self._get_allocations_by_provider_uuid(self.bridge)
        return (rp['parent_provider_uuid'],
                self._get_provider_inventory(self.bridge),
                sorted(self._get_provider_traits(self.bridge)),
                {c: a['resources'] for c, a in held.items()})

    def _state(self) -> dict[str, Any]:
        """The node as the base class reads it, without the bridge."""
        state = super()._state()
        state['inventory'].pop(BRIDGE, None)
        state['parents'].pop(BRIDGE, None)
        for allocs in state['allocations'].values():
            allocs.pop(BRIDGE, None)
        return state

    def test_foreign_provider_and_operator_trait_survive(self) -> None:
        self._restart()
        self.assertPivoted(self._state())
        self.assertEqual(self.foreign, self._foreign())
        numa0 = self._get_provider_uuid_by_name(CELLS[0])
        self.placement.put('/traits/CUSTOM_GOLD', {}, version='1.6')
        self._set_provider_traits(
            numa0, [*self._get_provider_traits(numa0), 'CUSTOM_GOLD'])
        self.assertRestartChangesNothing()
        self.assertIn('CUSTOM_GOLD', self._get_provider_traits(numa0))
        self.assertEqual(self.foreign, self._foreign())
        self._restart(pivot_mode='off')
        self.assertFlat(self._state())
        self.assertEqual(self.foreign, self._foreign())
        self.assertUntouched()


class TestOnlineNextToAComputeWithoutTheHook(PivotTestCase):
    """nova's fake driver reports the node flat and does not run the hook:
    an online pivot is refused; forced, the compute's next start puts the
    flat inventory back on the root, and the node is named
    double_counted."""

    def test_refused_then_forced_then_detected(self) -> None:
        from keystoneauth1 import adapter as ks_adapter
        from keystoneauth1 import session as ks_session

        from nested_pivot.journal import Journal
        from nested_pivot.placement import operations
        from nested_pivot.placement import PlacementClient
        from nested_pivot.service import workflows

        session = ks_session.Session(auth=None, additional_headers={
            'X-Auth-Token': 'admin', 'X-Roles': 'admin,service'})
        client = PlacementClient(ks_adapter.Adapter(
            session, endpoint_override=self.placement.fixture.endpoint,
            raise_exc=False))
        journal = Journal(self.useFixture(fixtures.TempDir()).path)
        layout = numa_layout(self.flat['inventory'][HOST])

        refused = workflows.pivot_node(client, journal, HOST, layout,
                                       guarded=True)
        self.assertIs(workflows.Result.FAILED, refused.result)
        self.assertIn("does not run nested_pivot's hook", refused.detail)
        self.assertFlat(self._state())

        forced = workflows.pivot_node(client, journal, HOST, layout)
        self.assertIs(workflows.Result.DONE, forced.result)
        self.assertPivoted(self._state())
        self.compute = self.computes[HOST] = self.restart_compute_service(
            self.compute)
        self._run_periodics(raise_on_error=True)
        state = self._state()
        for rc in CPU_MEM:  # back on the root, and still on the cells
            self.assertIn(rc, state['inventory'][HOST])
            self.assertIn(rc, state['inventory'][CELLS[0]])
        status = operations.status(client, HOST, layout)
        self.assertIs(operations.NodeState.DOUBLE_COUNTED, status.state)
        self.assertUntouched()
