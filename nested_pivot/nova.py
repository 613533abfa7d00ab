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

"""The nova-compute hook: what a virt driver calls from its own
``update_provider_tree(provider_tree, nodename, allocations=None)``.

Whether a node is reported nested or flat is decided once per node and
process, at the first call: that is nova-compute's start, the only time
nova accepts ``ReshapeNeeded``.  A request or a mode change made while the
compute runs takes effect at its next restart.  Until a call finds the node
settled (Placement as decided), ``ReshapeNeeded`` may be raised again, as
often as nova retries its start-up update after a reshape conflict
(:data:`STARTUP_ATTEMPTS`); after that, never.

Telling a flat node from a pivoted one: the helper reads the root's
inventory as nova hands it over, which is what Placement holds.  So either
call it before the driver writes the root's inventory, or, better, pass the
driver's flat root inventory as ``root_inventory`` and let the helper write
the root itself.  A driver that never writes the root works too: the root
then keeps its classes that no child carries.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import MutableMapping
import dataclasses
import threading
from typing import Any
from typing import NamedTuple

from oslo_config import cfg
from oslo_log import log as logging

from nested_pivot import engine
from nested_pivot import exception
from nested_pivot import names
from nested_pivot.conf import compute as compute_conf
from nested_pivot.conf.compute import REQUEST_TRAIT
from nested_pivot.engine import TreeLike
from nested_pivot.layout import Layout

LOG = logging.getLogger(__name__)

Hints = Mapping[str, Any] | Callable[[list[str]], Mapping[str, Any]]


STARTUP_ATTEMPTS = 4
"""nova's resource tracker tries its start-up update this many times."""


@dataclasses.dataclass
class _Decision:
    """What was decided for a node at start, and how the start went."""

    nested: bool
    reason: str
    reshapes_asked: int = 0
    settled: bool = False
    warned: bool = False


Concern = tuple[str, frozenset[str], frozenset[str],
                frozenset[tuple[str, str]]]
"""A node, and what one layout manages on it: a driver may call the hook
once per concern (vGPU, SEV, PCPU), each deciding on its own."""

_DECISIONS: dict[Concern, _Decision] = {}
_LOCK = threading.Lock()


def update_provider_tree(provider_tree: TreeLike, nodename: str,
                         layout: Layout,
                         allocations: MutableMapping[str, Any] | None = None,
                         *, hints: Hints | None = None,
                         conf: cfg.ConfigOpts | None = None,
                         root_inventory: Mapping[str, Any] | None = None
                         ) -> None:
    """Bring ``provider_tree`` to the layout (or its flat equivalent).

    :raises nova.exception.ReshapeNeeded: at nova-compute start, when
        allocations must move and ``allocations`` is None.
    :raises nova.exception.ReshapeFailed: the layout or hints are invalid,
        or (with ``on_infeasible = fail``) the instances do not fit.
    """
    conf = _conf(conf)
    try:
        names.check_node_name(nodename)
        # Classes the driver gives no flat record of need the children's
        # flat equivalent: a layout without one fails up front.
        layout.flat_inventory(layout.resource_classes
                              - set(root_inventory or ()))
    except exception.PivotError as err:
        raise _nova_exceptions().failed(error=str(err)) from err
    decision = _decision(provider_tree, nodename, layout, conf)
    _mark(provider_tree, nodename, conf)
    target = layout if decision.nested else layout.flat()
    if allocations is None:
        if _must_move(provider_tree, nodename, layout, target,
                      root_inventory):
            _reshape_needed(decision, nodename)
            return
        decision.settled = True
        resolved = None
    else:
        resolved = _resolve_hints(hints, provider_tree, nodename,
                                  allocations, decision.nested)
    try:
        _apply(provider_tree, nodename, layout, target, allocations,
               resolved, root_inventory, conf.nested_pivot.search_budget)
    except exception.CannotPivot as err:
        _infeasible(provider_tree, nodename, layout, allocations, err, conf,
                    root_inventory)
    except exception.PivotError as err:
        raise _nova_exceptions().failed(error=str(err)) from err


def forget(nodename: str | None = None) -> None:
    """Drop the start-time decision for ``nodename`` (or every node).

    nova-compute decides once per process.  A harness that restarts a
    compute service inside one process calls ``forget(nodename)`` for each
    of its nodes to behave like a real restart; without a node it resets
    every node of the process, other services' included.
    """
    with _LOCK:
        for key in list(_DECISIONS):
            if nodename is None or key[0] == nodename:
                del _DECISIONS[key]


def _conf(conf: cfg.ConfigOpts | None) -> cfg.ConfigOpts:
    # Only the hook's own options: nova has registered [placement] itself.
    conf = conf if conf is not None else cfg.CONF
    compute_conf.register_opts(conf)
    return conf


def _decision(tree: TreeLike, nodename: str, layout: Layout,
              conf: cfg.ConfigOpts) -> _Decision:
    key = _concern(nodename, layout)
    with _LOCK:
        if key in _DECISIONS:
            return _DECISIONS[key]
        decision = _decide(tree, nodename, layout,
                           conf.nested_pivot.pivot_mode)
        _DECISIONS[key] = decision
    LOG.info('Node %s: reporting the %s layout (%s).', nodename,
             'nested' if decision.nested else 'flat', decision.reason)
    return decision


def _mark(tree: TreeLike, nodename: str, conf: cfg.ConfigOpts) -> None:
    """Keep the root's trait saying that this nova-compute runs the hook,
    and in which mode (``[nested_pivot] mark_root``)."""
    traits = set(tree.data(nodename).traits)
    marks = set(compute_conf.HOOK_TRAITS.values())
    wanted = ({compute_conf.HOOK_TRAITS[conf.nested_pivot.pivot_mode]}
              if conf.nested_pivot.mark_root else set())
    if traits & marks != wanted:
        tree.update_traits(nodename, (traits - marks) | wanted)


def _concern(nodename: str, layout: Layout) -> Concern:
    return (nodename, layout.names, layout.resource_classes | layout.heals,
            frozenset(layout.converts.items()))


def _reshape_needed(decision: _Decision, nodename: str) -> None:
    """Ask nova for the allocations while it is still starting."""
    if not decision.settled and decision.reshapes_asked < STARTUP_ATTEMPTS:
        decision.reshapes_asked += 1
        raise _nova_exceptions().needed()
    if not decision.warned:
        decision.warned = True
        LOG.warning('Node %s does not match the %s layout decided at start; '
                    'it is reported as Placement holds it until the next '
                    'nova-compute start.', nodename,
                    'nested' if decision.nested else 'flat')


def _decide(tree: TreeLike, nodename: str, layout: Layout,
            mode: str) -> _Decision:
    if mode == 'off':
        return _Decision(False, 'pivot_mode = off')
    if mode == 'startup':
        return _Decision(True, 'pivot_mode = startup')
    if REQUEST_TRAIT in tree.data(nodename).traits:
        return _Decision(True, 'pivot requested with nested-pivot request')
    if _holds_nested(tree, nodename, layout):
        return _Decision(True, 'already pivoted')
    return _Decision(False, 'pivot_mode = requested, not requested yet')


def _layout_classes_on(tree: TreeLike, uuid: str, layout: Layout) -> bool:
    return bool(set(tree.data(uuid).inventory) & layout.resource_classes)


def _holds_nested(tree: TreeLike, nodename: str, layout: Layout) -> bool:
    children = engine.owned_children(tree, layout, nodename)
    return (not _layout_classes_on(tree, nodename, layout)
            and any(_layout_classes_on(tree, u, layout) for u in children))


def _must_move(tree: TreeLike, nodename: str, layout: Layout,
               target: Layout, root_inventory: Mapping[str, Any] | None
               ) -> bool:
    """Would the plan change an allocation?  It may, when a class leaves a
    provider of the node (consumers hold it there), or when a class the
    layout converts into or heals appears (consumers get it)."""
    root = _root_records(tree, nodename, layout, target, root_inventory)
    plan = engine.plan(tree, {}, layout=target, nodename=nodename,
                       root_inventory=root, reparent=False)
    before, after = _offered(plan, plan.before), _offered(plan, plan.after)
    if any(before[u] - after.get(u, frozenset()) for u in before):
        return True
    new = frozenset().union(*after.values()) - frozenset().union(
        *before.values())
    return bool(new & (frozenset(target.converts.values()) | target.heals))


def _offered(plan: engine.ReshapePlan, snapshot: engine.Snapshot
             ) -> dict[str, frozenset[str]]:
    """The classes each of the node's own providers offers."""
    return {u: frozenset(p.inventory) for u, p in snapshot.providers.items()
            if u not in plan.foreign}


def _resolve_hints(hints: Hints | None, tree: TreeLike, nodename: str,
                   allocations: Mapping[str, Any], nested: bool
                   ) -> Mapping[str, Any] | None:
    ours = set(tree.get_provider_uuids(nodename))
    consumers = sorted(c for c, record in allocations.items()
                       if ours & set(record.get('allocations', {})))
    found = hints(consumers) if callable(hints) else hints
    if found is None or not isinstance(found, Mapping):
        return found
    # Reported flat, the layout converts and heals nothing; a hint for an
    # instance gone since the driver looked is no error at start.
    gone = sorted(set(found) - set(consumers))
    if gone:
        LOG.warning('Node %s: no allocations for hinted consumer(s) %s; '
                    'their hints are left out.', nodename, ', '.join(gone))
    return {c: h if nested else _without_facts(h)
            for c, h in found.items() if c not in gone}


def _without_facts(hint: Any) -> Any:
    if not isinstance(hint, Mapping):
        return hint
    return {k: v for k, v in hint.items() if k not in ('convert', 'heal')}


def _apply(tree: TreeLike, nodename: str, layout: Layout, target: Layout,
           allocations: MutableMapping[str, Any] | None,
           hints: Mapping[str, Any] | None,
           root_inventory: Mapping[str, Any] | None,
           budget: int) -> None:
    # Order matters: read the root's own inventory before the engine
    # rewrites it, then move allocations, then write the root.
    root = _root_records(tree, nodename, layout, target, root_inventory)
    # nova's report client cannot move a provider to a new parent.
    engine.reshape(tree, allocations if allocations is not None else {},
                   layout=target, hints=hints, nodename=nodename,
                   root_inventory=root, budget=budget, reparent=False)
    tree.update_inventory(nodename, root)  # drops classes the driver dropped


def _root_records(tree: TreeLike, nodename: str, layout: Layout,
                  target: Layout, root_inventory: Mapping[str, Any] | None
                  ) -> dict[str, Any]:
    """The root's records: the driver's flat inventory (or the root as
    Placement holds it) without the classes the layout's children carry.
    Reported flat, those classes get the driver's flat records where it
    gave them, else the children's flat equivalent."""
    base = dict(root_inventory if root_inventory is not None
                else tree.data(nodename).inventory)
    root = {rc: dict(rec) for rc, rec in base.items()
            if rc not in layout.resource_classes}
    if target.is_flat:
        if root_inventory is not None:
            root.update({rc: dict(base[rc]) for rc in layout.resource_classes
                         if rc in base})
        missing = layout.resource_classes - set(root)
        root.update({rc: inv.as_dict() for rc, inv
                     in layout.flat_inventory(missing).items()})
    return root


def _infeasible(tree: TreeLike, nodename: str, layout: Layout,
                allocations: MutableMapping[str, Any] | None,
                err: exception.CannotPivot, conf: cfg.ConfigOpts,
                root_inventory: Mapping[str, Any] | None) -> None:
    if conf.nested_pivot.on_infeasible == 'fail':
        raise _nova_exceptions().failed(error=str(err)) from err
    with _LOCK:
        _DECISIONS[_concern(nodename, layout)] = _Decision(
            False, 'instances do not fit', STARTUP_ATTEMPTS)
    movers = ', '.join(err.unplaced) or 'none named'
    LOG.error('%s Moving instance(s) %s off this host (cold migration or '
              'resize) makes room for the others. Node %s stays flat and '
              'running; the pivot is retried at the next nova-compute '
              'start.', err, movers, nodename)
    _apply(tree, nodename, layout, layout.flat(), allocations, None,
           root_inventory, conf.nested_pivot.search_budget)


class _NovaExceptions(NamedTuple):
    needed: Callable[..., Exception]
    failed: Callable[..., Exception]


def _nova_exceptions() -> _NovaExceptions:
    """nova's ReshapeNeeded and ReshapeFailed, or ours without nova."""
    try:
        from nova import exception as nova_exception
    except ImportError:
        return _NovaExceptions(exception.ReshapeNeeded,
                               exception.ReshapeFailed)
    return _NovaExceptions(nova_exception.ReshapeNeeded,
                           nova_exception.ReshapeFailed)
