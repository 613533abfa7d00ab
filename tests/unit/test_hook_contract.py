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

"""The hook's contract with nova: a Hook object per concern, nova's
argument order, and ``ReshapeNeeded`` only while nova-compute starts.

nova honours ``ReshapeNeeded`` only in its start-up update; raised from a
periodic update, the resource tracker logs "ReshapeNeeded exception is
unexpected here!" and that node's whole update fails, every period.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from oslo_config import cfg
import pytest

from nested_pivot import conf as np_conf
from nested_pivot import layouts
from nested_pivot import nova
from tests.unit import helpers as h

RESHAPE_NEEDED, RESHAPE_FAILED = nova._nova_exceptions()
FLAT = {'VCPU': {'total': 16}, 'MEMORY_MB': {'total': 16384},
        'DISK_GB': {'total': 500}}
CELLS = layouts.numa([layouts.NumaCell(vcpu=8, memory_mb=8192),
                      layouts.NumaCell(vcpu=8, memory_mb=8192)])


@pytest.fixture(autouse=True)
def _fresh_process():
    nova.forget()
    yield
    nova.forget()


def _conf(**overrides: Any) -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    np_conf.register_opts(conf)
    conf([])
    for key, value in overrides.items():
        conf.set_override(key, value, group='nested_pivot')
    return conf


def _node(inventory: dict[str, Any] | None = None, count: int = 2
          ) -> tuple[Any, str, dict[str, Any]]:
    tree, root = h.flat_node(inventory=copy.deepcopy(inventory or FLAT))
    allocs = h.allocations(*(h.consumer(f'vm{i}', {root: {
        'VCPU': 2, 'MEMORY_MB': 1024}}) for i in range(count)))
    return tree, root, allocs


def _start(hook: nova.Hook, tree: Any, allocs: Any, **kwargs: Any) -> bool:
    """nova's resource tracker at start."""
    try:
        hook.update_provider_tree(tree, 'cn1', **kwargs)
    except RESHAPE_NEEDED:
        hook.update_provider_tree(tree, 'cn1', allocs, **kwargs)
        return True
    return False


def test_novas_argument_order_and_a_hook_object():
    tree, root, allocs = _node()
    hook = nova.Hook(_conf())
    with pytest.raises(RESHAPE_NEEDED):
        hook.update_provider_tree(tree, 'cn1', layout=CELLS,
                                  root_inventory=FLAT)
    assert hook.update_provider_tree(tree, 'cn1', allocs, layout=CELLS,
                                     root_inventory=FLAT) is True
    assert 'VCPU' not in tree.data(root).inventory
    assert hook.update_provider_tree(tree, 'cn1', layout=CELLS,
                                     root_inventory=FLAT) is False


def test_the_module_function_takes_novas_order_too():
    tree, root, allocs = _node()
    with pytest.raises(RESHAPE_NEEDED):
        nova.update_provider_tree(tree, 'cn1', None, layout=CELLS,
                                  conf=_conf())
    assert nova.update_provider_tree(tree, 'cn1', allocs, layout=CELLS,
                                     conf=_conf()) is True
    assert 'VCPU' not in tree.data(root).inventory


def test_the_old_order_still_works_and_is_deprecated():
    tree, root, allocs = _node()
    with pytest.warns(DeprecationWarning, match='allocations third'), \
            pytest.raises(RESHAPE_NEEDED):
        nova.update_provider_tree(tree, 'cn1', CELLS, conf=_conf())
    with pytest.warns(DeprecationWarning):
        nova.update_provider_tree(tree, 'cn1', CELLS, allocs, conf=_conf())
    assert 'VCPU' not in tree.data(root).inventory


@pytest.mark.parametrize('call,match', [
    (lambda t, a: nova.update_provider_tree(t, 'cn1', a),
     'layout must be a nested_pivot Layout .* not NoneType'),
    (lambda t, a: nova.update_provider_tree(t, 'cn1', a, layout=a),
     'layout must be a nested_pivot Layout .* not dict'),
    (lambda t, a: nova.Hook().update_provider_tree(t, 'cn1', CELLS,
                                                   layout=CELLS),
     'allocations must be nova\'s allocations dict or None, not Layout'),
])
def test_a_wrong_argument_is_named(call, match):
    tree, _, allocs = _node()
    before = h.snapshot(tree)
    with pytest.raises(TypeError, match=match):
        call(tree, allocs)
    assert h.snapshot(tree) == before


def test_a_device_that_appears_while_running_is_applied_at_once():
    inventory = {**FLAT, 'SRIOV_NET_VF': {'total': 8}}
    tree, _root, allocs = _node(inventory)
    hook = nova.Hook(_conf())
    one = layouts.sriov([layouts.PhysicalFunction('pf0', 'net', 8)])
    _start(hook, tree, allocs, layout=one, root_inventory=inventory)
    grown = layouts.sriov([layouts.PhysicalFunction('pf0', 'net', 8),
                           layouts.PhysicalFunction('pf1', 'net', 4)])
    bigger = {**inventory, 'SRIOV_NET_VF': {'total': 12}}
    assert hook.update_provider_tree(tree, 'cn1', layout=grown,
                                     root_inventory=bigger) is False
    assert tree.data('cn1_pf1').inventory['SRIOV_NET_VF']['total'] == 4


def test_a_change_that_moves_allocations_waits_for_the_next_start(caplog):
    tree, root, allocs = _node()
    hook = nova.Hook(_conf())
    assert _start(hook, tree, allocs, layout=layouts.pcpu(),
                  root_inventory=FLAT) is False  # nothing to move
    with caplog.at_level(logging.WARNING, logger='nested_pivot.nova'):
        for _ in range(3):  # periodic updates: the cells came later
            assert hook.update_provider_tree(
                tree, 'cn1', layout=CELLS, root_inventory=FLAT) is False
    warnings = [r.getMessage() for r in caplog.records
                if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert 'cn1' in warnings[0] and 'VCPU leaves cn1' in warnings[0]
    assert 'next nova-compute start' in warnings[0]
    assert tree.get_provider_uuids() == [root]
    hook.forget('cn1')  # the next start pivots
    assert _start(hook, tree, allocs, layout=CELLS, root_inventory=FLAT)


def test_a_root_written_flat_after_the_hook_is_reported_once(caplog):
    """The driver's old habit: write the flat root after calling the
    hook.  The capacity counts twice; one error says why, and nothing
    raises ReshapeNeeded every period."""
    tree, root, allocs = _node()
    hook = nova.Hook(_conf())
    _start(hook, tree, allocs, layout=CELLS)
    with caplog.at_level(logging.WARNING, logger='nested_pivot.nova'):
        for _ in range(3):
            hook.update_provider_tree(tree, 'cn1', layout=CELLS)
            tree.update_inventory(root, copy.deepcopy(FLAT))  # the habit
    reports = [r.getMessage() for r in caplog.records
               if r.levelno >= logging.WARNING]
    assert len(reports) == 1
    assert 'MEMORY_MB, VCPU' in reports[0] and 'counted twice' in reports[0]
    assert 'root_inventory' in reports[0]


def test_a_fresh_compute_with_dedicated_cpus_asks_for_nothing():
    """PCPU appears on a new root, but nothing ever held VCPU there."""
    tree, root = h.flat_node(inventory={})
    hook = nova.Hook(_conf())
    pcpu_root = {'PCPU': {'total': 8}, 'MEMORY_MB': {'total': 16384}}
    hook.update_provider_tree(tree, 'cn1', layout=layouts.pcpu(),
                              root_inventory=pcpu_root,
                              hints=lambda consumers: {})
    assert tree.data(root).inventory['PCPU']['total'] == 8


def test_allocations_handed_at_any_time_are_healed():
    """nova's PCI translator heals at every update; so does the hook when
    handed the allocations, and it says whether it changed them."""
    inventory = {**FLAT, 'SRIOV_NET_VF': {'total': 4}}
    tree, _root, allocs = _node(inventory)
    hook = nova.Hook(_conf())
    pf = layouts.sriov([layouts.PhysicalFunction('pf0', 'net', 4)])
    pf += layouts.Layout(heals=frozenset(['SRIOV_NET_VF']))
    _start(hook, tree, allocs, layout=pf, root_inventory=inventory)
    hook.update_provider_tree(tree, 'cn1', layout=pf,
                              root_inventory=inventory)  # periodic
    vm = h.uuid('vm0')
    hints = {vm: {'correct': {'SRIOV_NET_VF': {'pf0': 1}}}}
    assert hook.update_provider_tree(tree, 'cn1', allocs, layout=pf,
                                     root_inventory=inventory,
                                     hints=hints) is True
    assert h.on(allocs, vm)[h.child(tree, 'cn1_pf0')] == {'SRIOV_NET_VF': 1}
    assert hook.update_provider_tree(tree, 'cn1', allocs, layout=pf,
                                     root_inventory=inventory,
                                     hints=hints) is False


def test_concerns_in_their_own_hooks_keep_each_others_children():
    inventory = {**FLAT, 'VGPU': {'total': 8},
                 'MEM_ENCRYPTION_CONTEXT': {'total': 15}}
    tree, root, _ = _node(inventory, count=0)
    allocs = h.allocations(
        h.consumer('gpu-vm', {root: {'VCPU': 1, 'VGPU': 1}}),
        h.consumer('sev-vm', {root: {'VCPU': 1,
                                     'MEM_ENCRYPTION_CONTEXT': 1}}))
    gpus = layouts.pgpu([layouts.PhysicalGPU('pci_0000_84_00_0', 4),
                         layouts.PhysicalGPU('pci_0000_85_00_0', 4)])
    sev = layouts.memory_encryption({'amd_sev': 15})
    hooks = {'vgpu': nova.Hook(_conf()), 'sev': nova.Hook(_conf()),
             'pcpu': nova.Hook(_conf())}

    def update(allocations: Any = None) -> None:
        hooks['vgpu'].update_provider_tree(tree, 'cn1', allocations,
                                           layout=gpus)
        hooks['sev'].update_provider_tree(tree, 'cn1', allocations,
                                          layout=sev)
        hooks['pcpu'].update_provider_tree(tree, 'cn1', allocations,
                                           layout=layouts.pcpu())

    try:
        update()
    except RESHAPE_NEEDED:
        update(allocs)
    names = {tree.data(u).name for u in tree.get_provider_uuids()}
    assert names == {'cn1', 'cn1_pci_0000_84_00_0', 'cn1_pci_0000_85_00_0',
                     'cn1_amd_sev'}
    before = h.snapshot(tree)
    for _ in range(2):
        update()  # periodic: nothing to do, nothing removed
    assert h.snapshot(tree) == before


def test_a_failed_flat_fallback_is_reshape_failed():
    tree, root, _ = _node(count=0)
    allocs = h.allocations(*(h.consumer(f'big{i}', {root: {'VCPU': 6}})
                             for i in range(3)))
    small = {'VCPU': {'total': 4}}  # not even flat do they fit
    with pytest.raises(RESHAPE_FAILED, match='flat fallback failed too'):
        _start(nova.Hook(_conf()), tree, allocs, layout=CELLS,
               root_inventory=small)


def test_a_device_layout_that_does_not_fit_keeps_the_tree(caplog):
    inventory = {**FLAT, 'VGPU': {'total': 4}}
    tree, root, _ = _node(inventory, count=0)
    allocs = h.allocations(*(h.consumer(f'g{i}', {root: {'VGPU': 2}})
                             for i in range(2)))
    gpus = layouts.pgpu([layouts.PhysicalGPU('pci_0000_84_00_0', 1)])
    before = (h.snapshot(tree), copy.deepcopy(allocs))
    with caplog.at_level(logging.ERROR, logger='nested_pivot.nova'):
        assert _start(nova.Hook(_conf()), tree, allocs, layout=gpus) is True
    assert (h.snapshot(tree), allocs) == before
    errors = [r.getMessage() for r in caplog.records
              if r.levelno == logging.ERROR]
    assert len(errors) == 1 and 'flat fallback means nothing for VGPU' in \
        errors[0]


class Usages:
    """Placement's usages, by provider uuid, and the providers asked."""

    def __init__(self, used: dict[str, dict[str, int]] | None = None,
                 fails: bool = False) -> None:
        self.used = used or {}
        self.fails = fails
        self.asked: list[str] = []

    def __call__(self, uuid: str) -> dict[str, int]:
        self.asked.append(uuid)
        if self.fails:
            raise ConnectionError('placement is down')
        return self.used.get(uuid, {})


def test_a_periodic_move_with_no_usage_is_applied_at_once():
    """nova's fake driver moves the root's classes onto cells in a
    periodic update of a host without instances
    (ProviderTreeTests.test_update_provider_tree_multiple_providers):
    fails when the hook raises ReshapeNeeded there, which nova refuses
    outside start-up."""
    tree, root, _ = _node(count=0)
    usages = Usages({root: {'VCPU': 0, 'MEMORY_MB': 0, 'DISK_GB': 0}})
    hook = nova.Hook(_conf(), usages=usages)
    assert hook.update_provider_tree(tree, 'cn1', layout=CELLS,
                                     root_inventory=FLAT) is False
    assert 'VCPU' not in tree.data(root).inventory
    assert sum(tree.data(u).inventory.get('VCPU', {}).get('total', 0)
               for u in tree.get_provider_uuids()) == 16
    assert usages.asked == [root]


@pytest.mark.parametrize('fails', [False, True])
def test_a_move_with_usage_or_no_answer_still_asks(fails, caplog):
    """Fails when a move is applied at once although an instance holds
    what would move, or although Placement's usages could not be read."""
    tree, root, allocs = _node()
    usages = Usages({root: {'VCPU': 4, 'MEMORY_MB': 2048}}, fails=fails)
    hook = nova.Hook(_conf(), usages=usages)
    with caplog.at_level(logging.WARNING, logger='nested_pivot.nova'), \
            pytest.raises(RESHAPE_NEEDED):
        hook.update_provider_tree(tree, 'cn1', layout=CELLS,
                                  root_inventory=FLAT)
    assert 'VCPU' in tree.data(root).inventory
    warnings = [r.getMessage() for r in caplog.records]
    if fails:
        assert len(warnings) == 1 and 'cn1' in warnings[0]
        assert 'could not be read (ConnectionError' in warnings[0]
    else:
        assert warnings == []
    assert hook.update_provider_tree(tree, 'cn1', allocs, layout=CELLS,
                                     root_inventory=FLAT) is True


def test_a_heal_that_appears_asks_unless_the_node_holds_nothing():
    """A class the layout heals appears: consumers of the node change,
    whatever class they hold, so any usage on the node asks."""
    inventory = {**FLAT, 'SRIOV_NET_VF': {'total': 4}}
    pf = layouts.sriov([layouts.PhysicalFunction('pf0', 'net', 4)])
    pf += layouts.Layout(heals=frozenset(['SRIOV_NET_VF']))
    flat = {rc: rec for rc, rec in inventory.items()
            if rc != 'SRIOV_NET_VF'}
    for used, asks in (({'DISK_GB': 10}, True), ({}, False)):
        tree, root, _ = _node(flat, count=0)
        usages = Usages({root: used})
        hook = nova.Hook(_conf(), usages=usages)
        if asks:
            with pytest.raises(RESHAPE_NEEDED):
                hook.update_provider_tree(tree, 'cn1', layout=pf,
                                          root_inventory=inventory)
        else:
            hook.update_provider_tree(tree, 'cn1', layout=pf,
                                      root_inventory=inventory)
            assert tree.data('cn1_pf0').inventory['SRIOV_NET_VF'][
                'total'] == 4
        assert usages.asked == [root]
