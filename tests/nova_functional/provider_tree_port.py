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

"""``ProviderTreeTests``' fake driver through nested_pivot.

nova's tests set the fake driver's ``update_provider_tree`` as a mock's
side effect.  Each becomes a driver that calls the hook first and then
does what the test's own function does to the root (the driver guide's
order: the hooks, then the root):

- the function of ``_update_provider_tree_multiple_providers``, the one
  that builds two NUMA cells with PFs and a sharing provider and, for
  ``test_reshape``, moves the allocations by hand, is replaced whole: the
  hook builds the children from :data:`TREE` and moves the allocations
  (VCPU to numa1, MEMORY_MB to numa2, DISK_GB to the sharing provider, a
  VF healed on pf1_1); only the sharing provider and the aggregates, which
  are no child of the node, stay the test's;
- every other function (inventory, traits, aggregates of the root, bogus
  classes and traits) runs after a hook call with the layout of a host
  with nothing to pivot, ``Layout()``: a driver that has adopted
  nested_pivot calls its hook at every update.

The helper's own assertions (every provider, inventory, trait, aggregate,
and the exact allocations handed to the driver) run unchanged.
"""

from __future__ import annotations

from typing import Any

from nova.scheduler.client import report
from nova.tests.functional import test_servers_provider_tree as nova_tree
from oslo_config import cfg
from oslo_utils.fixture import uuidsentinel as uuids

from nested_pivot import nova as hook
from nested_pivot.conf import compute as compute_conf
from nested_pivot.layout import Child
from nested_pivot.layout import Layout
from tests.nova_functional.test_pivot import skip_differing
from tests.nova_functional.test_pivot import wsgi_paste

CONF = cfg.CONF
MULTIPLE_PROVIDERS = ('ProviderTreeTests._update_provider_tree_multiple_'
                      'providers.<locals>.update_provider_tree')


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


def _tree_driver(test: Any, concern: hook.Hook) -> Any:
    """The multiple-providers driver: the test's sharing provider and
    aggregate, then nested_pivot for every child and every move."""
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
        concern.update_provider_tree(
            prov_tree, nodename, allocations, layout=TREE,
            root_inventory={},
            hints=lambda consumers: {c: {
                'VCPU': 'numa1', 'MEMORY_MB': 'numa2',
                'heal': {'SRIOV_NET_VF': {'pf1_1': 1}}} for c in consumers})

    return update_provider_tree


def _hook_first(concern: hook.Hook, original: Any) -> Any:
    """The hook with nothing to pivot, then the test's own function."""

    def update_provider_tree(prov_tree: Any, nodename: str,
                             *args: Any, **kwargs: Any) -> Any:
        allocations = kwargs.get('allocations', args[0] if args else None)
        concern.update_provider_tree(prov_tree, nodename, allocations,
                                     layout=Layout())
        return original(prov_tree, nodename, *args, **kwargs)

    return update_provider_tree


DIFFERING: dict[str, str] = {}
"""nova's tests the hook cannot pass as they are, by ``<class>.<test>``:
skipped, with the reason."""


class ProviderTreeTests(nova_tree.ProviderTreeTests):
    """Every side effect a test gives the fake driver's mock goes through
    the hook (see the module's docstring).  A new side effect is a new
    driver, with a new :class:`~nested_pivot.nova.Hook`, before the
    restart or update the test then runs."""

    def setUp(self) -> None:
        skip_differing(self, DIFFERING)
        wsgi_paste(self)
        super().setUp()
        compute_conf.register_opts(CONF)
        mocked = type(self.mock_upt)
        prop = mocked.side_effect
        test = self

        def set_side_effect(mock_self: Any, value: Any) -> None:
            if callable(value):
                # As a driver gives it, from nova's own report client.
                concern = hook.Hook(usages=hook.report_client_usages(
                    report.report_client_singleton()))
                if getattr(value, '__qualname__', '').endswith(
                        MULTIPLE_PROVIDERS):
                    value = _tree_driver(test, concern)
                else:
                    value = _hook_first(concern, value)
            prop.fset(mock_self, value)

        mocked.side_effect = property(prop.fget, set_side_effect)
