"""Pivot one node against Placement, and tell where a node stands.

The engine decides; this module only reads, and writes what the plan
says.  The node's state is re-read before every attempt, so a retry after a
conflict plans against what Placement holds now.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
import dataclasses
import enum
import logging
from typing import Any

from nested_pivot import engine
from nested_pivot import exception
from nested_pivot.layout import Layout
from nested_pivot.placement import snapshot as snap
from nested_pivot.placement import writes
from nested_pivot.placement.http import PlacementClient

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class PivotResult:
    """What :func:`pivot` did: the plan, whether it was applied, and the
    HTTP requests and conflict retries it took.

    After a conflict whose cause was this call's own earlier write (its
    answer lost on the way back), ``plan`` is the plan that was written.
    """

    plan: engine.ReshapePlan
    applied: bool
    requests: int
    retries: int


class NodeState(str, enum.Enum):
    FLAT = 'flat'
    PARTIAL = 'partial'
    PIVOTED = 'pivoted'
    NOT_APPLICABLE = 'not_applicable'

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True)
class NodeStatus:
    """Where a node stands against a layout, and what a pivot would move."""

    node: str
    uuid: str
    state: NodeState
    consumers: int
    moves: Mapping[str, int]
    plan: engine.ReshapePlan = dataclasses.field(repr=False)


BeforeWrite = Callable[[snap.NodeSnapshot, engine.ReshapePlan], None]


def pivot(client: PlacementClient, node: str, layout: Layout, *,
          hints: Mapping[str, Any] | None = None,
          dry_run: bool = False,
          before_write: BeforeWrite | None = None,
          root_inventory: Mapping[str, Any] | None = None) -> PivotResult:
    """Read ``node``, plan with the engine, and apply the plan atomically.

    ``before_write(snapshot, plan)`` runs before the first write of each
    attempt; the CLI records its journal's pre-image there.
    ``root_inventory`` sets the root's records of classes no child carries
    (a rollback restores the flat records from the journal with it).

    :raises PlacementTooOld, PermissionDenied, ReshapeRejected,
        PlacementUnavailable, ConcurrentUpdate: from Placement.
    :raises CannotPivot, InvalidLayout, InvalidHint: from the engine;
        Placement is left as it was.
    """
    start = client.requests
    client.version()
    retries = 0
    # The last plan whose reshape was sent: when a retry finds it done
    # (its answer was lost), that is the plan the result reports.
    reshaped: engine.ReshapePlan | None = None
    while True:
        # A dry run shows each consumer's type.  A pivot does not need
        # them: it reads and writes below 1.38, which leaves every type
        # as it is and spares Placement a query per consumer read.
        state, plan = read_and_plan(client, node, layout, hints,
                                    root_inventory, consumer_types=dry_run)
        if plan.is_noop and reshaped is not None:
            return PivotResult(reshaped, True, client.requests - start,
                               retries)
        if plan.is_noop or dry_run:
            return PivotResult(plan, False, client.requests - start, retries)
        if plan.inventories:
            reshaped = plan
        if before_write is not None:
            before_write(state, plan)
        try:
            writes.apply(client, state, plan)
        except writes.Conflict as conflict:
            retries += 1
            if retries > client.max_retries:
                raise exception.ConcurrentUpdate(
                    method='POST', url='/reshaper', status=409,
                    node=plan.node, attempts=retries,
                    detail=str(conflict)) from None
            LOG.info('Node %s changed during the pivot (%s); re-reading, '
                     'retry %d of %d', plan.node, conflict, retries,
                     client.max_retries)
            client.sleep(retries)
            continue
        return PivotResult(reshaped or plan, True, client.requests - start,
                           retries)


def read_and_plan(client: PlacementClient, node: str, layout: Layout,
                  hints: Mapping[str, Any] | None = None,
                  root_inventory: Mapping[str, Any] | None = None, *,
                  consumer_types: bool = True
                  ) -> tuple[snap.NodeSnapshot, engine.ReshapePlan]:
    """The node as Placement holds it, and the engine's plan for it.

    ``consumer_types=False`` reads the moving consumers without their
    type (see :func:`snapshot.complete`).
    """
    state = snap.read_node(client, node)
    first = engine.plan(state.tree, state.allocations, layout=layout,
                        hints=hints, nodename=state.root,
                        root_inventory=root_inventory)
    if not first.consumers:
        return state, first
    # Only the consumers that move are read whole: the cost of a pivot
    # grows with what moves, not with the size of the host.
    snap.complete(client, state, first.consumers,
                  consumer_types=consumer_types)
    return state, engine.plan(state.tree, state.allocations, layout=layout,
                              hints=hints, nodename=state.root,
                              root_inventory=root_inventory)


def may_reshape(client: PlacementClient) -> bool:
    """Do the credentials pass placement's reshaper policy?

    An empty body is refused for its schema (400) only after the policy
    passed, and with 403 when it did not; nothing is written either way.
    """
    resp = client.request('POST', '/reshaper', json={}, version='1.30')
    if resp.status == 403:
        return False
    if resp.status == 400:
        return True
    raise resp.error()


def status(client: PlacementClient, node: str, layout: Layout
           ) -> NodeStatus:
    """Classify ``node`` against ``layout`` without changing anything."""
    state = snap.read_node(client, node)
    plan = engine.plan(state.tree, state.allocations, layout=layout,
                       nodename=state.root)
    return NodeStatus(state.name, state.root, _classify(state, plan, layout),
                      len(plan.consumers), plan.moved(), plan)


def _classify(state: snap.NodeSnapshot, plan: engine.ReshapePlan,
              layout: Layout) -> NodeState:
    if plan.is_noop:
        return NodeState.PIVOTED
    owned = set(state.children) - plan.foreign
    if owned:
        return NodeState.PARTIAL
    root_classes = set(plan.before.root_provider.inventory)
    if root_classes & layout.resource_classes:
        return NodeState.FLAT
    return NodeState.NOT_APPLICABLE
