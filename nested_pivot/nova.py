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

A driver owns one :class:`Hook` per concern (vGPU, memory encryption,
PCPU, its NUMA cells...), created once, e.g. in ``init_host``, and calls
:meth:`Hook.update_provider_tree` with that concern's layout at every
update.  The hook keeps, per node:

- the decision, taken at the node's first update in the process (that is
  nova-compute's start): reported nested or flat (``pivot_mode``);
- whether that first update is over.  nova honours ``ReshapeNeeded`` only
  while it starts, so the hook raises it only in the node's first update
  (at its first call, and again when nova retries that update at once
  after a reshape conflict, :data:`RETRY_WINDOW`); a change that needs
  allocations to move later waits for the next start, with one warning
  naming the node and the change, and a change that moves nothing is
  applied at once.

With ``allocations`` (nova's answer to ``ReshapeNeeded``, or at any time
from a caller that sends the allocations it is handed back, as nova's PCI
translator does), the hook moves, heals and corrects them in place and
returns True when it changed them.

Each layout is one concern of the node: it owns the children it names and
the children nested_pivot created that carry only its classes; another
concern's children are foreign to it.

Telling a flat node from a pivoted one: the hook reads the root's
inventory as nova hands it over, which is what Placement holds.  Pass the
driver's flat root inventory as ``root_inventory`` and let the hook write
the root, or call it before the driver writes the root.

:func:`update_provider_tree` is the module-level form: a thin wrapper over
one default :class:`Hook` per concern (told apart by the classes the
layout manages).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import MutableMapping
import dataclasses
import threading
import time
from typing import Any
from typing import NamedTuple
import warnings

from oslo_config import cfg
from oslo_log import log as logging

from nested_pivot import engine
from nested_pivot import exception
from nested_pivot import microversion
from nested_pivot import names
from nested_pivot.conf import compute as compute_conf
from nested_pivot.engine import TreeLike
from nested_pivot.engine.root import records as root_records
from nested_pivot.layout import Layout
from nested_pivot.markers import HOOK_TRAITS
from nested_pivot.markers import REQUEST_TRAIT

LOG = logging.getLogger(__name__)

Hints = Mapping[str, Any] | Callable[[list[str]], Mapping[str, Any]]
Usages = Callable[[str], Mapping[str, int]]
"""The usage of each class on a provider, by its uuid, as Placement
counts it (``GET /resource_providers/{uuid}/usages``)."""


RETRY_WINDOW = 30.0
"""Seconds after an answered ``ReshapeNeeded`` in which a call that still
finds the node to reshape is nova retrying its start-up update (it does
so at once when the reshape met a conflict); nova's periodic updates come
a minute apart."""

_clock: Callable[[], float] = time.monotonic


@dataclasses.dataclass
class _Node:
    """What the hook knows of one node in this process.

    ``first`` holds until an update without allocations finds nothing to
    move or is deferred: nova's start-up update, with its retries.
    ``answered`` is when nova last answered ``ReshapeNeeded`` with the
    allocations, and ``asked`` whether a ``ReshapeNeeded`` waits for them.
    """

    nested: bool
    reason: str
    first: bool = True
    asked: bool = False
    answered: float | None = None
    reported: set[str] = dataclasses.field(default_factory=set)

    def may_ask(self) -> bool:
        """May this call raise ``ReshapeNeeded``?  At the node's first
        call, and when nova retries its start-up update after a reshape
        that did not land; never once the start-up update is over."""
        if not self.first or self.asked:
            return False
        return self.answered is None or (
            _clock() - self.answered <= RETRY_WINDOW)


class Hook:
    """One concern of a virt driver, across the nodes it serves.

    :param conf: the configuration holding ``[nested_pivot]`` (nova's
        ``CONF`` by default); the hook registers only its own options.
    :param usages: reads Placement's usages of a provider (see
        :func:`report_client_usages`).  Without allocations, a change that
        would move them then needs no reshape when Placement counts no
        usage that would move (a host without instances); without it, the
        hook cannot tell, and asks for one.
    """

    def __init__(self, conf: cfg.ConfigOpts | None = None,
                 usages: Usages | None = None) -> None:
        self.conf = conf
        self.usages = usages
        self._nodes: dict[str, _Node] = {}
        self._lock = threading.Lock()

    def update_provider_tree(
            self, provider_tree: TreeLike, nodename: str,
            allocations: MutableMapping[str, Any] | None = None, *,
            layout: Layout, hints: Hints | None = None,
            root_inventory: Mapping[str, Any] | None = None) -> bool:
        """Bring ``provider_tree`` to the layout (or its flat equivalent).

        :returns: True when ``allocations`` was changed in place.
        :raises nova.exception.ReshapeNeeded: in the node's first update,
            when allocations must move and ``allocations`` is None.
        :raises nova.exception.ReshapeFailed: the layout or hints are
            invalid, or (with ``on_infeasible = fail``) the instances do
            not fit.
        """
        return self._update(self.conf, provider_tree, nodename, allocations,
                            layout, hints, root_inventory)

    def _update(self, conf: cfg.ConfigOpts | None, provider_tree: TreeLike,
                nodename: str,
                allocations: MutableMapping[str, Any] | None,
                layout: Layout, hints: Hints | None,
                root_inventory: Mapping[str, Any] | None) -> bool:
        _check_types(layout, allocations, root_inventory)
        conf = _conf(conf)
        try:
            names.check_node_name(nodename)
            # Classes the driver gives no flat record of need the children's
            # flat equivalent: a layout without one fails up front.
            layout.flat_inventory(layout.resource_classes
                                  - set(root_inventory or ()))
        except exception.PivotError as err:
            raise _nova_exceptions().failed(error=str(err)) from err
        call = _Call(provider_tree, nodename, layout,
                     self._node(provider_tree, nodename, layout, conf),
                     conf, root_inventory)
        _mark(provider_tree, nodename, conf)
        if allocations is None:
            return self._without_allocations(call)
        return self._with_allocations(call, allocations, hints)

    def forget(self, nodename: str | None = None) -> None:
        """Forget ``nodename`` (every node without one), as a restart of
        nova-compute does: its next update is a first one again.  Only a
        harness that restarts a compute service inside one process needs
        it."""
        with self._lock:
            for node in list(self._nodes):
                if nodename is None or node == nodename:
                    del self._nodes[node]

    def _node(self, tree: TreeLike, nodename: str, layout: Layout,
              conf: cfg.ConfigOpts) -> _Node:
        with self._lock:
            node = self._nodes.get(nodename)
            if node is None:
                node = _decide(tree, nodename, layout,
                               conf.nested_pivot.pivot_mode)
                self._nodes[nodename] = node
                LOG.info('Node %s: reporting the %s layout (%s).', nodename,
                         'nested' if node.nested else 'flat', node.reason)
            return node

    def _without_allocations(self, call: _Call) -> bool:
        plan = call.plan({})
        moves = _moves(call, plan)
        why = moves.why()
        node = call.node
        if why is None or self._none_held(call, plan, moves):
            node.first = False
            call.apply({}, None)
            return False
        if node.may_ask():
            node.asked = True
            raise _nova_exceptions().needed()
        node.first = False
        _report(node, 'deferred', '%s', _deferred(call, why))
        return False

    def _none_held(self, call: _Call, plan: engine.ReshapePlan,
                   moves: _Moves) -> bool:
        """Does Placement count no usage that the change would move?

        A class leaving a provider moves only what is held of it there; a
        class that appears (a conversion, a heal) changes consumers of the
        node, so then nothing may be held on any of its providers.
        """
        if self.usages is None:
            return False
        own = sorted(set(plan.before.providers) - plan.foreign)
        wanted = own if moves.appearing else sorted(
            {uuid for uuid, _ in moves.leaving})
        try:
            used = {uuid: self.usages(uuid) for uuid in wanted}
        except Exception as err:  # the hook must not fail nova's update
            LOG.warning('Node %s: Placement\'s usages could not be read '
                        '(%s: %s); taking the change (%s) to move '
                        'allocations.', call.nodename, type(err).__name__,
                        err, moves.why())
            return False
        held = any(used[uuid].get(rc, 0) for uuid, rc in moves.leaving) or (
            bool(moves.appearing) and any(
                any(counts.values()) for counts in used.values()))
        if not held:
            LOG.info('Node %s: %s, and Placement counts no usage that would '
                     'move: the layout is applied without a reshape.',
                     call.nodename, moves.why())
        return not held

    def _with_allocations(self, call: _Call,
                          allocations: MutableMapping[str, Any],
                          hints: Hints | None) -> bool:
        if call.node.asked:
            call.node.asked, call.node.answered = False, _clock()
        resolved = _resolve_hints(hints, call.tree, call.nodename,
                                  allocations, call.node.nested)
        plan: engine.ReshapePlan | None
        try:
            plan = call.apply(allocations, resolved)
        except exception.CannotPivot as err:
            plan = _infeasible(call, allocations, err)
        except exception.PivotError as err:
            raise _nova_exceptions().failed(error=str(err)) from err
        return plan is not None and bool(plan.consumers)


@dataclasses.dataclass
class _Call:
    """One call of the hook: the tree, the node, the layout it targets."""

    tree: TreeLike
    nodename: str
    layout: Layout
    node: _Node
    conf: cfg.ConfigOpts
    root_inventory: Mapping[str, Any] | None

    @property
    def target(self) -> Layout:
        return self.layout if self.node.nested else self.layout.flat()

    def root(self, target: Layout | None = None) -> dict[str, Any]:
        return _root_records(self.tree, self.nodename, self.layout,
                             target or self.target, self.root_inventory)

    def flat(self) -> dict[str, Any] | None:
        """The driver's flat records of the layout's classes, which the
        fields a layout leaves out follow."""
        if self.root_inventory is None:
            return None
        return {rc: dict(rec) for rc, rec in self.root_inventory.items()
                if rc in self.layout.resource_classes}

    def plan(self, allocations: Mapping[str, Any],
             target: Layout | None = None) -> engine.ReshapePlan:
        return engine.plan(
            self.tree, allocations, layout=target or self.target,
            nodename=self.nodename, root_inventory=self.root(target),
            reparent=False, concern=True, flat=self.flat(),
            budget=self.conf.nested_pivot.search_budget)

    def apply(self, allocations: MutableMapping[str, Any],
              hints: Mapping[str, Any] | None,
              target: Layout | None = None) -> engine.ReshapePlan:
        # Order matters: read the root's own records before the engine
        # rewrites the tree, then move allocations, then write the root.
        root = self.root(target)
        # nova's report client cannot move a provider to a new parent.
        plan = engine.reshape(
            self.tree, allocations, layout=target or self.target,
            hints=hints, nodename=self.nodename, root_inventory=root,
            budget=self.conf.nested_pivot.search_budget, reparent=False,
            concern=True, flat=self.flat())
        self.tree.update_inventory(self.nodename, root)
        return plan


def _check_types(layout: Any, allocations: Any, root_inventory: Any) -> None:
    if not isinstance(layout, Layout):
        raise TypeError(f'layout must be a nested_pivot Layout (a keyword '
                        f'argument, layout=...), not {type(layout).__name__}')
    if allocations is not None and not isinstance(allocations,
                                                  MutableMapping):
        raise TypeError(f'allocations must be nova\'s allocations dict or '
                        f'None, not {type(allocations).__name__}')
    if root_inventory is not None and not isinstance(root_inventory,
                                                     Mapping):
        raise TypeError(f'root_inventory must be a mapping of resource '
                        f'class to record, not '
                        f'{type(root_inventory).__name__}')


def _conf(conf: cfg.ConfigOpts | None) -> cfg.ConfigOpts:
    # Only the hook's own options: nova has registered [placement] itself.
    conf = conf if conf is not None else cfg.CONF
    compute_conf.register_opts(conf)
    return conf


def _mark(tree: TreeLike, nodename: str, conf: cfg.ConfigOpts) -> None:
    """Keep the root's trait saying that this nova-compute runs the hook,
    and in which mode (``[nested_pivot] mark_root``, off by default)."""
    traits = set(tree.data(nodename).traits)
    marks = set(HOOK_TRAITS.values())
    wanted = ({HOOK_TRAITS[conf.nested_pivot.pivot_mode]}
              if conf.nested_pivot.mark_root else set())
    if traits & marks != wanted:
        tree.update_traits(nodename, (traits - marks) | wanted)


def _decide(tree: TreeLike, nodename: str, layout: Layout,
            mode: str) -> _Node:
    if mode == 'off':
        return _Node(False, 'pivot_mode = off')
    if mode == 'startup':
        return _Node(True, 'pivot_mode = startup')
    if REQUEST_TRAIT in tree.data(nodename).traits:
        return _Node(True, 'pivot requested with nested-pivot request')
    if _holds_nested(tree, nodename, layout):
        return _Node(True, 'already pivoted')
    return _Node(False, 'pivot_mode = requested, not requested yet')


def _layout_classes_on(tree: TreeLike, uuid: str, layout: Layout) -> bool:
    return bool(set(tree.data(uuid).inventory) & layout.resource_classes)


def _holds_nested(tree: TreeLike, nodename: str, layout: Layout) -> bool:
    children = engine.owned_children(tree, layout, nodename, concern=True)
    return (not _layout_classes_on(tree, nodename, layout)
            and any(_layout_classes_on(tree, u, layout) for u in children))


@dataclasses.dataclass(frozen=True)
class _Moves:
    """What in a plan may change allocations.

    ``leaving``: (provider uuid, class) of each class leaving a provider
    of the node (consumers may hold it there); ``appearing``: each class
    a consumer may be converted to, or that the layout heals, that
    appears.  ``names``: the providers' names, by uuid.
    """

    leaving: tuple[tuple[str, str], ...]
    appearing: tuple[str, ...]
    names: Mapping[str, str]

    def why(self) -> str | None:
        """Why the plan may change allocations, or None when it cannot."""
        if self.leaving:
            return ', '.join(sorted(f'{rc} leaves {self.names[uuid]}'
                                    for uuid, rc in self.leaving))
        if self.appearing:
            return ', '.join(f'{rc} appears' for rc in self.appearing)
        return None


def _moves(call: _Call, plan: engine.ReshapePlan) -> _Moves:
    before, after = _offered(plan, plan.before), _offered(plan, plan.after)
    leaving = tuple(sorted((u, rc) for u in before
                           for rc in before[u] - after.get(u, set())))
    held = frozenset().union(*before.values())
    new = frozenset().union(*after.values()) - held
    converts = call.target.converts
    appear = tuple(sorted(rc for rc in new if rc in call.target.heals or any(
        target == rc and source in held
        for source, target in converts.items())))
    return _Moves(leaving, appear, {u: p.name for u, p
                                    in plan.before.providers.items()})


def _offered(plan: engine.ReshapePlan, snapshot: engine.Snapshot
             ) -> dict[str, frozenset[str]]:
    """The classes each of the node's own providers offers."""
    return {u: frozenset(p.inventory) for u, p in snapshot.providers.items()
            if u not in plan.foreign}


def _deferred(call: _Call, why: str) -> str:
    twice = sorted(_double_counted(call))
    if twice:
        return (f'Node {call.nodename}: the root provider holds '
                f'{", ".join(twice)}, which the layout\'s children hold too: '
                f'that capacity is counted twice. Most likely the driver '
                f'writes its flat root inventory after calling '
                f'nested_pivot\'s hook; pass it as root_inventory and let '
                f'the hook write the root, or write the root before the '
                f'call.')
    return (f'Node {call.nodename} does not match the '
            f'{"nested" if call.node.nested else "flat"} layout decided at '
            f'start ({why}): its allocations would have to move, which nova '
            f'allows only while nova-compute starts. It is reported as '
            f'Placement holds it until the next nova-compute start.')


def _double_counted(call: _Call) -> set[str]:
    on_root = set(call.tree.data(call.nodename).inventory) \
        & call.layout.resource_classes
    children = engine.owned_children(call.tree, call.layout, call.nodename,
                                     concern=True)
    return {rc for u in children for rc in call.tree.data(u).inventory
            if rc in on_root}


def _report(node: _Node, kind: str, fmt: str, *args: Any,
            level: int = logging.WARNING) -> None:
    """Log once per node, kind and message."""
    key = kind + ':' + fmt % args
    if key not in node.reported:
        node.reported.add(key)
        LOG.log(level, fmt, *args)


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
    return {k: v for k, v in hint.items()
            if k not in ('convert', 'heal', 'correct')}


def _root_records(tree: TreeLike, nodename: str, layout: Layout,
                  target: Layout, root_inventory: Mapping[str, Any] | None
                  ) -> dict[str, Any]:
    """The root's records by :func:`nested_pivot.engine.root.records`,
    from the driver's flat inventory (or the root as Placement holds it):
    the layout's classes leave the children when reported flat, as the
    driver's flat records where it gave them, else the children's flat
    equivalent."""
    base = dict(root_inventory if root_inventory is not None
                else tree.data(nodename).inventory)
    carried = layout.resource_classes
    leaving = carried if target.is_flat else set()
    given = ({rc: dict(base[rc]) for rc in leaving if rc in base}
             if root_inventory is not None else {})
    return root_records(
        {rc: dict(rec) for rc, rec in base.items()}, carried, given,
        leaving, lambda missing: {rc: inv.as_dict() for rc, inv
                                  in layout.flat_inventory(missing).items()})


def _infeasible(call: _Call, allocations: MutableMapping[str, Any],
                err: exception.CannotPivot) -> engine.ReshapePlan | None:
    """``on_infeasible``: fail, or fall back.  A layout of the host's own
    classes falls back to flat for this process; one with a device's
    classes (VFs, vGPUs, PCI devices, memory encryption) to the tree as
    it is, since a device's class on the compute root means nothing."""
    if call.conf.nested_pivot.on_infeasible == 'fail':
        raise _nova_exceptions().failed(error=str(err)) from err
    movers = ', '.join(err.unplaced) or 'none named'
    devices = sorted(rc for rc in call.layout.resource_classes
                     if names.is_device_class(rc))
    if devices:
        _report(call.node, 'as-is', '%s Node %s keeps its tree as Placement '
                'holds it (a flat fallback means nothing for %s); moving '
                'instance(s) %s off this host, or a hint, lets it change.',
                err, call.nodename, ', '.join(devices), movers,
                level=logging.ERROR)
        return None
    call.node.nested = False
    call.node.reason = 'instances do not fit'
    LOG.error('%s Moving instance(s) %s off this host (cold migration or '
              'resize) makes room for the others. Node %s stays flat and '
              'running; the pivot is retried at the next nova-compute '
              'start.', err, movers, call.nodename)
    try:
        return call.apply(allocations, None, call.layout.flat())
    except exception.PivotError as again:
        raise _nova_exceptions().failed(
            error=f'{err} The flat fallback failed too: {again}') from again


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


def report_client_usages(client: Any) -> Usages:
    """:data:`Usages` through nova's report client
    (``nova.scheduler.client.report.report_client_singleton()``): a
    provider Placement does not hold yet has none."""
    def usages(uuid: str) -> Mapping[str, int]:
        resp = client.get(f'/resource_providers/{uuid}/usages',
                          version=microversion.text(microversion.PROVIDERS))
        if resp.status_code == 404:
            return {}
        if resp.status_code != 200:
            raise exception.PlacementUnavailable(
                url=f'/resource_providers/{uuid}/usages', attempts=1,
                detail=f'HTTP {resp.status_code}')
        return dict(resp.json()['usages'])

    return usages


# -- the module-level form ---------------------------------------------------

_HOOKS: dict[Any, Hook] = {}
_HOOKS_LOCK = threading.Lock()


def update_provider_tree(provider_tree: TreeLike, nodename: str,
                         *args: Any, layout: Layout | None = None,
                         allocations: MutableMapping[str, Any] | None = None,
                         hints: Hints | None = None,
                         conf: cfg.ConfigOpts | None = None,
                         root_inventory: Mapping[str, Any] | None = None
                         ) -> bool:
    """:meth:`Hook.update_provider_tree` on the default :class:`Hook` of
    the layout's concern (the classes it manages).

    nova's argument order: ``(provider_tree, nodename, allocations=None,
    *, layout, ...)``.  The order of nested_pivot 0.1, ``(provider_tree,
    nodename, layout, allocations=None)``, still works and is deprecated.
    """
    layout, allocations = _arguments(args, layout, allocations)
    return _default_hook(layout)._update(
        conf, provider_tree, nodename, allocations, layout, hints,
        root_inventory)


def _arguments(args: tuple[Any, ...], layout: Layout | None,
               allocations: MutableMapping[str, Any] | None
               ) -> tuple[Layout, MutableMapping[str, Any] | None]:
    if len(args) > 2 or (len(args) == 2 and not isinstance(args[0], Layout)):
        raise TypeError('update_provider_tree() takes (provider_tree, '
                        'nodename, allocations=None, *, layout, ...)')
    if args and isinstance(args[0], Layout):
        warnings.warn('update_provider_tree(tree, node, layout, ...) is '
                      'deprecated: pass allocations third, as nova does, and '
                      'layout=... as a keyword', DeprecationWarning,
                      stacklevel=3)
        layout, args = args[0], args[1:]
    if args:
        allocations = args[0]
    if not isinstance(layout, Layout):
        raise TypeError(f'layout must be a nested_pivot Layout (a keyword '
                        f'argument, layout=...), not {type(layout).__name__}')
    return layout, allocations


def _default_hook(layout: Layout) -> Hook:
    key = (layout.resource_classes, layout.heals,
           frozenset(layout.converts.items()))
    with _HOOKS_LOCK:
        hook = _HOOKS.get(key)
        if hook is None:
            hook = _HOOKS[key] = Hook()
        return hook


def forget(nodename: str | None = None) -> None:
    """Drop what the default hooks know of ``nodename`` (every node).

    nova-compute decides once per process.  A harness that restarts a
    compute service inside one process calls ``forget(nodename)`` for each
    of its nodes to behave like a real restart; without a node it resets
    every node of the process, other services' included.  A driver that
    owns :class:`Hook` objects calls :meth:`Hook.forget` instead.
    """
    with _HOOKS_LOCK:
        hooks = list(_HOOKS.values())
    for hook in hooks:
        hook.forget(nodename)
