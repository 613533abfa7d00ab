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

"""Pivot one node against Placement, and tell where a node stands.

The engine decides; this module only reads, and writes what the plan
says.  The node's state is re-read before every attempt, so a retry after a
conflict (or after an answer that never came) plans against what Placement
holds now.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
import dataclasses
from typing import Any

from oslo_log import log as logging

from nested_pivot import compat
from nested_pivot import engine
from nested_pivot import exception
from nested_pivot import microversion
from nested_pivot import names
from nested_pivot.engine.packing import DEFAULT_BUDGET
from nested_pivot.layout import Layout
from nested_pivot.markers import REQUEST_TRAIT
from nested_pivot.placement import backends
from nested_pivot.placement import read
from nested_pivot.placement import writes
from nested_pivot.placement.http import backoff
from nested_pivot.placement.http import PlacementClient

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class PivotResult:
    """What :func:`pivot` did: the plan, whether it was applied, and the
    HTTP requests and conflict retries it took.

    After a retry whose cause was this call's own earlier write (its
    answer lost on the way back), ``plan`` is the plan that was written.
    """

    plan: engine.ReshapePlan
    applied: bool
    requests: int
    retries: int


class NodeState(compat.StrEnum):
    """Where a node stands against its layout."""

    FLAT = 'flat'
    """The layout's classes are on the root: the node needs a pivot."""
    PARTIAL = 'partial'
    """Owned children exist, but the pivot is not complete."""
    REQUESTED = 'requested'
    """Flat or partial, and its pivot is requested for the next start."""
    PIVOTED = 'pivoted'
    """The node has its layout."""
    NOT_APPLICABLE = 'not_applicable'
    """No rule matches the node, or none of the layout's classes are
    on it."""
    CANNOT_PIVOT = 'cannot_pivot'
    """The running instances do not fit the children, or the layout does
    not fit the node."""
    DOUBLE_COUNTED = 'double_counted'
    """The root and the layout's children both offer a layout class:
    its capacity is counted twice."""


PENDING = frozenset({NodeState.FLAT, NodeState.PARTIAL, NodeState.REQUESTED})
"""States that an ``apply`` would change."""

FAILING = frozenset({NodeState.CANNOT_PIVOT, NodeState.DOUBLE_COUNTED})
"""States a command reports as a failure (exit code 2)."""

UNFIT = (exception.CannotPivot, exception.InvalidLayout,
         exception.InvalidTree, exception.InvalidHint)
"""Errors that make a node ``cannot_pivot`` rather than fail a command:
the one rule from an error to a state."""


@dataclasses.dataclass(frozen=True)
class NodeStatus:
    """Where a node stands against a layout, and what a pivot would move:
    the one outcome of a node's status, for :func:`status`, the commands'
    ``check`` and ``status``, and the survey of a fleet.

    ``plan`` is the dry run; ``None`` when the node cannot be pivoted, and
    then ``problem`` says why.  ``note`` says why where no error does: a
    node its facts refuse, or one no layout rule matches.
    """

    node: str
    uuid: str
    state: NodeState
    consumers: int = 0
    moves: Mapping[str, int] = dataclasses.field(default_factory=dict)
    plan: engine.ReshapePlan | None = dataclasses.field(default=None,
                                                        repr=False)
    problem: exception.PivotError | None = None
    note: str = ''

    @property
    def unfit(self) -> tuple[exception.Unfit, ...]:
        """Every instance that does not fit, with what it needs and the
        room left (empty unless the problem is that)."""
        if isinstance(self.problem, exception.CannotPivot):
            return self.problem.unfit
        return ()


BeforeWrite = Callable[[read.NodeRead, engine.ReshapePlan], None]


def pivot(client: PlacementClient, node: str, layout: Layout, *,
          hints: Mapping[str, Any] | None = None,
          dry_run: bool = False,
          before_write: BeforeWrite | None = None,
          root_inventory: Mapping[str, Any] | None = None,
          budget: int = DEFAULT_BUDGET,
          before_reshape: BeforeWrite | None = None) -> PivotResult:
    """Read ``node``, plan with the engine, and apply the plan atomically.

    ``before_write(state, plan)`` runs before the first write of each
    attempt (the CLI checks there that the node may be written);
    ``before_reshape(state, plan)`` runs with the final plan right before
    the reshape (the CLI records its journal's pre-image there).
    ``root_inventory`` sets the root's records of classes no child carries
    (a rollback restores the flat records from the journal with it).
    ``budget`` is the packer's search budget (``[nested_pivot]
    search_budget``).

    :raises PlacementTooOld, PermissionDenied, ReshapeRejected: from
        Placement.
    :raises PlacementUnavailable, ConcurrentUpdate: from Placement.
    :raises CannotPivot, InvalidLayout, InvalidHint: from the engine;
        Placement is left as it was.
    """
    _check_arguments(client, node, layout)
    client.version()
    attempt = _Attempts(client, before_write, before_reshape)
    while True:
        # A dry run shows each consumer's type.  A pivot does not need
        # them: it reads and writes below 1.38, which leaves every type
        # as it is and spares Placement a query per consumer read.  It
        # reads the moving consumers whole only once its children exist.
        state, plan = read_and_plan(client, node, layout, hints,
                                    root_inventory, consumer_types=dry_run,
                                    budget=budget, whole=dry_run)
        if plan.is_noop or dry_run:
            return attempt.result(plan, applied=False)

        def complete(state: read.NodeRead = state,
                     first: engine.ReshapePlan = plan) -> engine.ReshapePlan:
            return _completed(client, state, first, layout, hints,
                              root_inventory, budget)

        final = attempt.write(state, plan, complete)
        if final is not None:
            return attempt.result(final, applied=not final.is_noop)


class _Attempts:
    """The attempts of one pivot: its retries, and the reshape it sent.

    A conflict (409) means the write did not happen: re-read and retry.
    An answer that never came (Placement unavailable after the client's
    own retries) is ambiguous: the reshape may have landed, so the node is
    re-read before anything is called failed.
    """

    def __init__(self, client: PlacementClient,
                 before_write: BeforeWrite | None,
                 before_reshape: BeforeWrite | None) -> None:
        self.client = client
        self.before_write = before_write
        self.before_reshape = before_reshape
        self.start = client.requests
        self.retries = 0
        self.reshaped: engine.ReshapePlan | None = None
        self.maybe: engine.ReshapePlan | None = None

    def result(self, plan: engine.ReshapePlan, applied: bool
               ) -> PivotResult:
        if self.maybe is not None and not plan.inventories:
            self.reshaped = self.maybe  # its answer was lost on the way
        done = self.reshaped
        return PivotResult(done or plan, applied or done is not None,
                           self.client.requests - self.start, self.retries)

    def write(self, state: read.NodeRead, first: engine.ReshapePlan,
              complete: Callable[[], engine.ReshapePlan]
              ) -> engine.ReshapePlan | None:
        """Write the plan; the plan written, or None when the node must be
        re-read first."""
        if self.maybe is not None and not first.inventories:
            self.reshaped = self.maybe
        if self.before_write is not None:
            self.before_write(state, first)
        try:
            # Order matters: nothing is written before every child to
            # create is known to be free (its uuid, its name); then the
            # children (renamed ones under their new names, so that a new
            # child may take a name one leaves; new ones empty, reused by
            # any later run), then the moving consumers read whole, so that
            # only the plan and the journal stand between that read and the
            # reshape that relies on it.
            writes.check_children(self.client, first)
            writes.ensure_custom_names(self.client, first)
            writes.rename(self.client, first)
            writes.create_children(self.client, first)
            plan = complete()
            if not plan.is_noop:
                if self.before_reshape is not None:
                    self.before_reshape(state, plan)
                self._apply(plan)
        except exception.NodeChanged as conflict:
            self._again(first, f'concurrent update: {conflict}')
            return None
        except exception.PlacementUnavailable as err:
            self._again(first, f'no answer: {err.detail}', err)
            return None
        return plan

    def _apply(self, plan: engine.ReshapePlan) -> None:
        # Order matters. The children exist (write() made them) before
        # the reshape moves inventory onto them, and under their new
        # parents (a parent change alters no capacity); child traits
        # after it (the reshape bumps their generations); emptied
        # children are deleted last, once the reshape has removed their
        # inventory and allocations. A failure before the reshape leaves
        # only empty children, which the next run finds and reuses.
        writes.reparent(self.client, plan)
        if plan.inventories:
            try:
                writes.reshape(self.client, plan)
            except exception.PlacementUnavailable:
                self.maybe = plan
                raise
            except exception.NodeChanged as conflict:
                if conflict.maybe_applied:
                    self.maybe = plan
                raise
            self.reshaped, self.maybe = plan, None
            stray = writes.strays(self.client, plan)
            if stray:
                raise exception.NodeChanged(
                    f'claimed during the reshape, on inventory it removed: '
                    f'{"; ".join(stray)}')
        writes.set_child_traits(self.client, plan)
        writes.delete_removed(self.client, plan)

    def _again(self, plan: engine.ReshapePlan, why: str,
               unavailable: exception.PlacementUnavailable | None = None
               ) -> None:
        self.retries += 1
        if self.retries > self.client.conflict_retries:
            if unavailable is not None:
                raise unavailable
            raise exception.ConcurrentUpdate(
                method='POST', url='/reshaper', status=409, node=plan.node,
                attempts=self.retries, detail=why)
        LOG.info('Node %s: %s; re-reading, retry %d of %d', plan.node, why,
                 self.retries, self.client.conflict_retries)
        backoff(self.client.backoff, self.retries)


def _check_arguments(client: Any, node: Any, layout: Any) -> None:
    if not isinstance(client, PlacementClient):
        raise TypeError(f'client must be a PlacementClient, not {client!r}')
    if not isinstance(layout, Layout):
        raise TypeError(f'layout must be a Layout, not {layout!r}')
    names.check_node_name(node)


def read_and_plan(client: PlacementClient, node: str, layout: Layout,
                  hints: Mapping[str, Any] | None = None,
                  root_inventory: Mapping[str, Any] | None = None, *,
                  consumer_types: bool = True, budget: int = DEFAULT_BUDGET,
                  whole: bool = True
                  ) -> tuple[read.NodeRead, engine.ReshapePlan]:
    """The node as Placement holds it, and the engine's plan for it.

    ``consumer_types=False`` reads the moving consumers without their
    type (see :func:`read.complete`).  ``whole=False`` does not read them
    whole: the plan is then one to create the children by, not to send.
    """
    state = read.read_node(client, node, layout.sharing.values())
    first = _plan(client, state, layout, hints, root_inventory, budget)
    if not whole:
        return state, first
    return state, _completed(client, state, first, layout, hints,
                             root_inventory, budget, consumer_types)


def _completed(client: PlacementClient, state: read.NodeRead,
               first: engine.ReshapePlan, layout: Layout,
               hints: Mapping[str, Any] | None,
               root_inventory: Mapping[str, Any] | None, budget: int,
               consumer_types: bool = False) -> engine.ReshapePlan:
    """The plan again, once the moving consumers are read whole (a read
    that was whole already plans on what it had)."""
    if not first.consumers or state.whole:
        return first
    # Only the consumers that move are read whole: the cost of a pivot
    # grows with what moves, not with the size of the host.
    read.complete(client, state, first.consumers,
                  consumer_types=consumer_types)
    return _plan(client, state, layout, hints, root_inventory, budget)


def _plan(client: PlacementClient, state: read.NodeRead, layout: Layout,
          hints: Mapping[str, Any] | None,
          root_inventory: Mapping[str, Any] | None,
          budget: int = DEFAULT_BUDGET) -> engine.ReshapePlan:
    # A child moves to a new parent only where Placement can (1.37).
    # Ratios are compared as Placement stores them (MariaDB: a single
    # precision float), and the names the plan creates are checked against
    # every database Placement may keep them in, before anything is
    # written.
    plan = engine.plan_snapshot(
        state.snapshot, state.records,
        backends.layout_as_stored(layout, state.snapshot), hints=hints,
        root_inventory=root_inventory, budget=budget, sharing=state.sharing,
        reparent=microversion.at_least(client.version(),
                                       microversion.REPARENT))
    backends.check_names(plan)
    return plan


def may_reshape(client: PlacementClient) -> bool:
    """Do the credentials pass placement's reshaper policy?

    An empty body is refused for its schema (400) only after the policy
    passed, and with 403 when it did not; nothing is written either way.
    """
    resp = client.request('POST', '/reshaper', json={},
                          version=microversion.RESHAPER)
    if resp.status == 403:
        return False
    if resp.status == 400:
        return True
    raise resp.error()


def status(client: PlacementClient, node: str, layout: Layout,
           hints: Mapping[str, Any] | None = None) -> NodeStatus:
    """Classify ``node`` against ``layout`` without changing anything.

    A node whose instances do not fit is a state, ``cannot_pivot``, with
    the engine's error as ``problem``; it is not raised.
    """
    _check_arguments(client, node, layout)
    state = read.read_node(client, node, layout.sharing.values())
    try:
        plan = _plan(client, state, layout, hints, None)
    except exception.CannotPivot as err:
        return NodeStatus(state.name, state.root, NodeState.CANNOT_PIVOT,
                          err.consumers, dict(err.moving), None, err)
    return NodeStatus(state.name, state.root,
                      classify(state.snapshot, plan, layout),
                      len(plan.consumers), plan.moved(), plan)


def classify(snapshot: engine.Snapshot, plan: engine.ReshapePlan,
             layout: Layout) -> NodeState:
    root = snapshot.root_provider
    classes = layout.resource_classes
    owned = [p for u, p in snapshot.providers.items()
             if u != root.uuid and u not in plan.foreign]
    on_root = set(root.inventory) & classes
    if on_root and any(set(p.inventory) & on_root for p in owned):
        return NodeState.DOUBLE_COUNTED
    if plan.is_noop:
        return NodeState.PIVOTED
    requested = REQUEST_TRAIT in root.traits
    if owned:
        return NodeState.REQUESTED if requested else NodeState.PARTIAL
    if on_root:
        return NodeState.REQUESTED if requested else NodeState.FLAT
    return NodeState.NOT_APPLICABLE
