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

"""nested_pivot.nova.update_provider_tree: the driver helper's contract.

Under ``tox -e nova`` the tree is nova's own ProviderTree and the
exceptions are nova's own ReshapeNeeded and ReshapeFailed.
"""

from __future__ import annotations

import copy
import logging

from oslo_config import cfg
import pytest

from nested_pivot import conf as np_conf
from nested_pivot import layouts
from nested_pivot import nova as hook
from nested_pivot.markers import REQUEST_TRAIT
from tests.unit import helpers as h

RESHAPE_NEEDED, RESHAPE_FAILED = hook._nova_exceptions()
# These tests call the hook in the order of nested_pivot 0.1, which is
# deprecated but works: tests/unit/test_hook_contract.py uses nova's.
pytestmark = pytest.mark.filterwarnings(
    'ignore:update_provider_tree\\(tree, node, layout:DeprecationWarning')
LAYOUT = layouts.numa([layouts.NumaCell(vcpu=8, memory_mb=8192),
                       layouts.NumaCell(vcpu=8, memory_mb=8192)])
FLAT = {'VCPU': {'total': 16}, 'MEMORY_MB': {'total': 16384},
        'DISK_GB': {'total': 500}}


@pytest.fixture(autouse=True)
def _fresh_process():
    hook.forget()
    yield
    hook.forget()


def _conf(**overrides):
    conf = cfg.ConfigOpts()
    np_conf.register_opts(conf)
    conf([])
    for key, value in overrides.items():
        conf.set_override(key, value, group='nested_pivot')
    return conf


def _node(count=4, vcpu=2):
    tree, root = h.flat_node(inventory=copy.deepcopy(FLAT))
    allocs = h.allocations(*(h.consumer(f'vm{i}', {root: {
        'VCPU': vcpu, 'MEMORY_MB': 1024, 'DISK_GB': 10}})
        for i in range(count)))
    return tree, root, allocs


def _start(tree, allocs, conf, **kwargs):
    """What nova's resource tracker does at start."""
    try:
        hook.update_provider_tree(tree, 'cn1', LAYOUT, conf=conf,
                                  root_inventory=FLAT, **kwargs)
    except RESHAPE_NEEDED:
        hook.update_provider_tree(tree, 'cn1', LAYOUT, allocs, conf=conf,
                                  root_inventory=FLAT, **kwargs)
        return True
    return False


def _on_root(allocs, root):
    return [c for c in allocs if 'VCPU' in h.on(allocs, c).get(root, {})]


def test_startup_mode_pivots_at_the_first_start():
    tree, root, allocs = _node()
    conf = _conf()
    with pytest.raises(RESHAPE_NEEDED):
        hook.update_provider_tree(tree, 'cn1', LAYOUT, conf=conf,
                                  root_inventory=FLAT)
    hook.update_provider_tree(tree, 'cn1', LAYOUT, allocs, conf=conf,
                              root_inventory=FLAT)
    assert _on_root(allocs, root) == []
    assert set(tree.data(root).inventory) == {'DISK_GB'}
    assert len(allocs) == 4
    # Periodic updates keep the layout and never raise.
    for _ in range(3):
        hook.update_provider_tree(tree, 'cn1', LAYOUT, conf=conf,
                                  root_inventory=FLAT)
    assert tree.data('cn1_NUMA0').inventory['VCPU']['total'] == 8
    # A restart of an already pivoted node changes nothing.
    hook.forget()
    before = h.snapshot(tree)
    assert _start(tree, allocs, conf) is False
    assert h.snapshot(tree) == before


def test_helper_only_driver_that_never_writes_the_root():
    tree, root, allocs = _node()
    conf = _conf()
    with pytest.raises(RESHAPE_NEEDED):
        hook.update_provider_tree(tree, 'cn1', LAYOUT, conf=conf)
    hook.update_provider_tree(tree, 'cn1', LAYOUT, allocs, conf=conf)
    assert set(tree.data(root).inventory) == {'DISK_GB'}
    assert _on_root(allocs, root) == []


def test_requested_mode_reports_flat_until_requested():
    tree, root, allocs = _node()
    conf = _conf(pivot_mode='requested')
    assert _start(tree, allocs, conf) is False
    assert tree.get_provider_uuids() == [root]
    assert tree.data(root).inventory['VCPU']['total'] == 16
    # The request, made while the compute runs, waits for the restart.
    tree.add_traits(root, REQUEST_TRAIT)
    hook.update_provider_tree(tree, 'cn1', LAYOUT, conf=conf,
                              root_inventory=FLAT)
    assert tree.get_provider_uuids() == [root]
    hook.forget()
    assert _start(tree, allocs, conf) is True
    assert _on_root(allocs, root) == []
    # Cancelling the request later does not un-pivot the node.
    tree.remove_traits(root, REQUEST_TRAIT)
    hook.forget()
    assert _start(tree, allocs, conf) is False
    assert 'VCPU' not in tree.data(root).inventory


def test_off_mode_unpivots_a_pivoted_node():
    tree, root, allocs = _node()
    original = copy.deepcopy(allocs)
    _start(tree, allocs, _conf())
    hook.forget()
    assert _start(tree, allocs, _conf(pivot_mode='off')) is True
    assert tree.get_provider_uuids() == [root]
    assert {c: h.on(allocs, c) for c in allocs} == {
        c: h.on(original, c) for c in original}
    assert tree.data(root).inventory['VCPU']['total'] == 16


def test_infeasible_stays_flat_and_names_what_to_move(caplog):
    tree, root, allocs = _node(count=3, vcpu=6)
    before = copy.deepcopy(allocs)
    with caplog.at_level(logging.ERROR, logger='nested_pivot.nova'):
        assert _start(tree, allocs, _conf()) is True
    assert allocs == before
    assert tree.get_provider_uuids() == [root]
    assert tree.data(root).inventory['VCPU']['total'] == 16
    errors = [r.getMessage() for r in caplog.records
              if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert 'VCPU=6' in errors[0] and 'retried at the next' in errors[0]
    assert any(c in errors[0] for c in allocs)
    assert 'off this host' in errors[0]
    # Later periodic calls stay flat and quiet.
    caplog.clear()
    hook.update_provider_tree(tree, 'cn1', LAYOUT, conf=_conf(),
                              root_inventory=FLAT)
    assert tree.get_provider_uuids() == [root]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_infeasible_with_fail_raises_reshape_failed():
    tree, _, allocs = _node(count=3, vcpu=6)
    before = copy.deepcopy(allocs)
    with pytest.raises(RESHAPE_FAILED, match='VCPU=6'):
        _start(tree, allocs, _conf(on_infeasible='fail'))
    assert allocs == before


def test_inconsistent_children_fail_up_front():
    tree, _, _ = _node()
    bad = layouts.numa([
        layouts.NumaCell(vcpu={'total': 8, 'allocation_ratio': 2.0}),
        layouts.NumaCell(vcpu={'total': 8, 'allocation_ratio': 4.0})])
    before = h.snapshot(tree)
    with pytest.raises(RESHAPE_FAILED, match='allocation_ratio'):
        hook.update_provider_tree(tree, 'cn1', bad, conf=_conf())
    assert h.snapshot(tree) == before


def test_invalid_hint_is_reshape_failed():
    tree, _, allocs = _node()
    with pytest.raises(RESHAPE_FAILED, match='no provider'):
        _start(tree, allocs, _conf(), hints={h.uuid('vm0'): 'NUMA7'})


def test_hints_callable_only_when_a_pivot_happens():
    tree, _, allocs = _node()
    seen = []

    def hints(consumers):
        seen.append(consumers)
        return dict.fromkeys(consumers[:2], 'NUMA1')

    conf = _conf()
    _start(tree, allocs, conf, hints=hints)
    assert seen == [sorted(allocs)]
    numa1 = h.child(tree, 'cn1_NUMA1')
    for c in sorted(allocs)[:2]:
        assert numa1 in h.on(allocs, c)
    hook.update_provider_tree(tree, 'cn1', LAYOUT, conf=conf, hints=hints)
    assert len(seen) == 1


def test_no_reshape_needed_after_start():
    tree, root, allocs = _node()
    conf = _conf(pivot_mode='off')
    assert _start(tree, allocs, conf) is False
    conf.set_override('pivot_mode', 'startup', group='nested_pivot')
    hook.update_provider_tree(tree, 'cn1', LAYOUT, conf=conf)
    assert tree.get_provider_uuids() == [root]


def test_other_hosts_and_sharing_allocations_stay():
    tree, root, allocs = _node(count=1)
    other, share = h.uuid('other-host'), h.uuid('share')
    c, record = h.consumer('evac', {root: {'VCPU': 1, 'MEMORY_MB': 512},
                                    other: {'VCPU': 1, 'MEMORY_MB': 512},
                                    share: {'DISK_GB': 5}})
    allocs[c] = record
    _start(tree, allocs, _conf())
    assert h.on(allocs, c)[other] == {'VCPU': 1, 'MEMORY_MB': 512}
    assert h.on(allocs, c)[share] == {'DISK_GB': 5}


def test_restart_halfway_with_empty_children():
    tree, root, allocs = _node()
    for child in ('NUMA0', 'NUMA1'):  # created, reshape never sent
        tree.new_child(f'cn1_{child}', root)
    assert _start(tree, allocs, _conf()) is True
    assert _on_root(allocs, root) == []
    assert len(tree.get_provider_uuids()) == 3


def test_start_retries_after_a_reshape_conflict_then_stays_quiet(
        caplog, monkeypatch):
    """nova retries its start-up update when the reshape hits a conflict;
    each retry needs ReshapeNeeded again, but only while nova retries, and
    never once the node has settled."""
    now = [1000.0]
    monkeypatch.setattr(hook, '_clock', lambda: now[0])
    conf = _conf()
    for _ in range(4):  # nova's retries, at once
        tree, _, allocs = _node()  # Placement still flat: the POST failed
        assert _start(tree, allocs, conf) is True
    now[0] += 60  # nova gave up; its periodic update comes a minute later
    tree, root, allocs = _node()
    with caplog.at_level(logging.WARNING, logger='nested_pivot.nova'):
        for _ in range(3):
            hook.update_provider_tree(tree, 'cn1', LAYOUT, conf=conf)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and 'next nova-compute start' in \
        warnings[0].getMessage()
    assert 'VCPU' in tree.data(root).inventory  # reported as it is


def test_settled_node_never_asks_again():
    conf = _conf()
    tree, root, allocs = _node()
    assert _start(tree, allocs, conf) is True
    hook.update_provider_tree(tree, 'cn1', LAYOUT, conf=conf)  # settled
    flat_again, _, _ = _node()  # e.g. rolled back behind nova's back
    hook.update_provider_tree(flat_again, 'cn1', LAYOUT, conf=conf)
    assert flat_again.get_provider_uuids() == [root]


def test_hook_registers_only_its_own_options_on_novas_conf():
    """nova's CONF already has [placement]; registering keystoneauth's
    options again would raise DuplicateOptError in nova-compute."""
    conf = cfg.ConfigOpts()
    conf.register_opts([cfg.StrOpt('service-type', default='other')],
                       group='placement')
    conf([])
    tree, _, allocs = _node()
    assert _start(tree, allocs, conf) is True
    assert conf.placement.service_type == 'other'


@pytest.mark.parametrize('mode', ['startup', 'requested', 'off'])
def test_the_root_says_that_its_compute_runs_the_hook(mode):
    tree, root, allocs = _node()
    tree.update_traits(root, ['CUSTOM_NESTED_PIVOT_HOOK_OFF', 'CUSTOM_X'])
    _start(tree, allocs, _conf(pivot_mode=mode, mark_root=True))
    marks = {t for t in tree.data(root).traits
             if t.startswith('CUSTOM_NESTED_PIVOT_HOOK_')}
    assert marks == {f'CUSTOM_NESTED_PIVOT_HOOK_{mode.upper()}'}
    assert 'CUSTOM_X' in tree.data(root).traits


def test_the_mark_can_be_turned_off():
    tree, root, allocs = _node()
    tree.update_traits(root, ['CUSTOM_NESTED_PIVOT_HOOK_STARTUP'])
    _start(tree, allocs, _conf(mark_root=False))
    assert not tree.data(root).traits


def test_the_search_budget_reaches_the_engine(monkeypatch):
    """Fails if [nested_pivot] search_budget is registered but unused."""
    seen = []
    reshape = hook.engine.reshape

    def spy(*args, **kwargs):
        seen.append(kwargs['budget'])
        return reshape(*args, **kwargs)

    monkeypatch.setattr(hook.engine, 'reshape', spy)
    tree, _, allocs = _node()
    _start(tree, allocs, _conf(search_budget=4321))
    assert seen and set(seen) == {4321}


PCPU_ROOT = {**FLAT, 'VCPU': {'total': 8}, 'PCPU': {'total': 8}}


def test_pinned_instances_convert_at_start_and_only_then():
    """nova's Train reshape through the hook: PCPU appears on the root, so
    the hook asks for allocations; the pinned instance's VCPU becomes
    PCPU; once PCPU is there, no more reshapes."""
    tree, root, allocs = _node(count=2)
    pinned = sorted(allocs)[0]
    layout = layouts.pcpu()
    hints = layouts.convert([pinned])

    def call(allocations=None):
        hook.update_provider_tree(tree, 'cn1', layout, allocations,
                                  conf=_conf(), root_inventory=PCPU_ROOT,
                                  hints=lambda consumers: hints)

    with pytest.raises(RESHAPE_NEEDED):
        call()
    call(allocs)
    assert h.on(allocs, pinned) == {root: {'PCPU': 2, 'MEMORY_MB': 1024,
                                           'DISK_GB': 10}}
    assert tree.data(root).inventory['PCPU']['total'] == 8
    hook.forget()
    call()  # a restart: PCPU is reported, nothing to ask for


def test_the_hook_refuses_to_move_a_child_to_a_new_parent():
    tree, _, _ = _node()
    flat_pf = layouts.sriov([layouts.PhysicalFunction('pf0', 'net', 4)])
    under = layouts.sriov([layouts.PhysicalFunction('pf0', 'net', 4,
                                                    numa_node=0)])
    tree.update_inventory('cn1', {**FLAT, 'SRIOV_NET_VF': {'total': 4}})
    root_inventory = {**FLAT, 'SRIOV_NET_VF': {'total': 4}}
    hook.update_provider_tree(tree, 'cn1', flat_pf, {}, conf=_conf(),
                              root_inventory=root_inventory)
    hook.forget()
    with pytest.raises(RESHAPE_FAILED, match='nested-pivot apply'):
        hook.update_provider_tree(tree, 'cn1', under, {}, conf=_conf(),
                                  root_inventory=root_inventory)
