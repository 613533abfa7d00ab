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

"""What the operator's commands do to nodes: journaled pivots and
rollbacks, pivot requests, and the survey of a fleet.

These are operations over Placement and the journal; the ``nested-pivot``
command only parses its arguments, renders these values and chooses its
exit code.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
import dataclasses
from typing import Any
import weakref

from nested_pivot import compat
from nested_pivot import engine
from nested_pivot import errors
from nested_pivot import exception
from nested_pivot import microversion
from nested_pivot import text
from nested_pivot.audit.model import Leak
from nested_pivot.journal import Journal
from nested_pivot.layout import Layout
from nested_pivot.layoutfile import Layouts
from nested_pivot.layoutfile import Rule
from nested_pivot.markers import hook_mode
from nested_pivot.markers import REQUEST_TRAIT
from nested_pivot.placement import operations
from nested_pivot.placement import read
from nested_pivot.placement import writes
from nested_pivot.placement.http import PlacementClient
from nested_pivot.placement.http import RESHAPE_POLICY
from nested_pivot.placement.operations import NodeState
from nested_pivot.placement.operations import NodeStatus


class Result(compat.StrEnum):
    """What became of one node in ``apply`` or ``rollback``."""

    DONE = 'done'
    UNCHANGED = 'unchanged'
    FAILED = 'failed'
    NOT_STARTED = 'not started'


@dataclasses.dataclass(frozen=True)
class NodeOutcome:
    """What became of one node; ``error`` is the failure's error code."""

    node: str
    result: Result
    detail: str = ''
    consumers: int = 0
    retries: int = 0
    error: str = ''
    leaked: tuple[str, ...] = ()
    """Consumers the pivot rewrote whose instance nova has deleted
    since, still holding allocations on the node (see ``recheck``)."""


NOT_FITTING = frozenset({errors.CANNOT_PIVOT, errors.INVENTORY_BELOW_USAGE,
                         errors.INVALID_LAYOUT})
"""Error codes of a plan that does not fit the node."""


Recheck = Callable[[engine.ReshapePlan], Sequence[Leak]]
"""The check of a plan just applied: the consumers it rewrote that
nova has deleted meanwhile and that still hold allocations."""


def pivot_node(client: PlacementClient, journal: Journal, node: str,
               layout: Layout, hints: Mapping[str, Any] | None = None, *,
               root_inventory: Mapping[str, Any] | None = None,
               operation: str = 'apply', guarded: bool = False,
               recheck: Recheck | None = None) -> NodeOutcome:
    """Pivot one node, journaled; failures become an outcome.

    The pre-image is in the journal before the reshape.  A journal that
    cannot be written is found before anything is written to Placement,
    and so is a ``guarded`` pivot (online, next to a running nova-compute)
    that the node's nova-compute would not keep (:func:`check_hook`).
    After the reshape, ``recheck`` (with nova's facts at hand) names the
    rewritten consumers nova has deleted meanwhile that still hold
    allocations: they are reported, never removed here.
    """
    written: list[engine.ReshapePlan] = []

    def check(state: read.NodeRead, plan: engine.ReshapePlan) -> None:
        require_reshape_policy(client)
        if guarded:
            check_hook(state.snapshot.root_provider, operation)
        if operation == 'rollback':
            check_rollback(plan, root_inventory or {})
        journal.check(plan.root)

    def record(state: read.NodeRead, plan: engine.ReshapePlan) -> None:
        journal.record_preimage(plan, state.records, operation)
        written.append(plan)

    try:
        result = operations.pivot(client, node, layout, hints=hints,
                                  before_write=check, before_reshape=record,
                                  root_inventory=root_inventory)
        if operation == 'rollback' and not result.applied:
            # Nothing to write is not "already flat" when children the
            # rollback does not know hold the node's classes.
            check_rollback(result.plan, root_inventory or {})
    except exception.PivotError as err:
        said = text.one_line(err)
        if written:
            _record_result(journal, written[-1], 'failed', said, operation)
        return NodeOutcome(node, Result.FAILED, said, error=err.code)
    if not result.applied:
        if written:  # another writer got there first
            _record_result(journal, written[-1], 'unchanged',
                           'another writer pivoted it first', operation)
        return NodeOutcome(result.plan.node, Result.UNCHANGED)
    moved = len(result.plan.consumers)
    detail = _record_result(journal, result.plan, 'done',
                            f'{text.plural(moved, "consumer")} moved',
                            operation)
    leaked, said = _rechecked(recheck, result.plan)
    return NodeOutcome(result.plan.node, Result.DONE,
                       f'{detail}; {said}' if said else detail, moved,
                       result.retries, leaked=leaked)


def _rechecked(recheck: Recheck | None, plan: engine.ReshapePlan
               ) -> tuple[tuple[str, ...], str]:
    """The leaked consumers of an applied plan, and what to say of
    them.  The pivot is done either way: a check that fails says so."""
    if recheck is None:
        return (), ''
    try:
        leaks = recheck(plan)
    except exception.PivotError as err:
        return (), f'the check of the rewritten consumers failed: ' \
            f'{text.one_line(err)}'
    if not leaks:
        return (), ''
    return tuple(leak.consumer for leak in leaks), (
        f'{text.plural(len(leaks), "consumer")} still '
        f'{"holds" if len(leaks) == 1 else "hold"} allocations although '
        f'nova has deleted {"its" if len(leaks) == 1 else "their"} '
        f'instance: {", ".join(leak.consumer for leak in leaks)} (see '
        f'nested-pivot audit --fix)')


def _record_result(journal: Journal, plan: engine.ReshapePlan,
                   outcome: str, detail: str, operation: str) -> str:
    try:
        journal.record_result(plan.root, plan.node, outcome, detail,
                              operation)
    except exception.JournalError as err:
        return f'{detail}; the result is not in the journal: {err}'
    return detail


def check_hook(root: engine.Provider, operation: str) -> None:
    """Refuse an online pivot (``apply``) or ``rollback`` that the node's
    nova-compute would undo or count twice, as its root's hook trait
    tells.

    :raises UnsafeOnline: naming the hazard and the fix.
    """
    mode = hook_mode(root.traits)
    if mode is None:
        reason = ('its nova-compute does not run nested_pivot\'s hook (no '
                  'CUSTOM_NESTED_PIVOT_HOOK_* trait on its root provider): '
                  'at its next start the driver would put the flat '
                  'inventory back on the root, and the root and the '
                  'children would count the capacity twice. Stop that '
                  'nova-compute, or upgrade its driver to call the hook; '
                  '--force goes on anyway')
    elif operation == 'apply' and mode == 'off':
        reason = ('its nova-compute runs the hook with pivot_mode = off '
                  'and would move the node back to flat at its next start: '
                  'set pivot_mode = startup or requested there first; '
                  '--force goes on anyway')
    elif operation == 'rollback' and mode == 'startup':
        reason = ('its nova-compute runs the hook with pivot_mode = '
                  'startup and would pivot the node again at its next '
                  'start: set pivot_mode = off there first; --force goes '
                  'on anyway')
    else:
        return
    raise exception.UnsafeOnline(node=root.name, reason=reason)


def rollback_node(client: PlacementClient, journal: Journal, node: str,
                  flat: Layout, *, use_journal: bool = True,
                  guarded: bool = False) -> NodeOutcome:
    """Move ``node`` back to ``flat`` (a layout's flat form).

    The root gets back the records the journal kept from before the
    pivot; without them, or when they no longer fit what runs on the node,
    the children's records summed.  The children the journal says the
    node's pivots made go too, whatever their names and uuids
    (:func:`rollback_layout`).  A rollback that would leave a class on a
    child and on the root both is refused before anything is written
    (:func:`check_rollback`).
    """
    if use_journal:
        flat = rollback_layout(client, journal, node, flat)
    records = flat_records(client, journal, node) if use_journal else None
    outcome = pivot_node(client, journal, node, flat, root_inventory=records,
                         operation='rollback', guarded=guarded)
    if records and outcome.error in NOT_FITTING:
        retry = pivot_node(client, journal, node, flat,
                           operation='rollback', guarded=guarded)
        return dataclasses.replace(retry, detail=(
            f'the flat records of the journal do not fit '
            f'({outcome.detail}); used the children\'s records summed. '
            + retry.detail).strip())
    return outcome


def rollback_layout(client: PlacementClient, journal: Journal, node: str,
                    flat: Layout) -> Layout:
    """``flat``, owning also every child the journal's pre-images say the
    node's pivots made, by uuid: children with fixed uuids, and children
    named after the node's old name (a root renamed since) are found so,
    where neither the flat layout nor their names tell."""
    uuid, name = read.find_node(client, node)
    made = journal.children(uuid, name)
    if not made:
        return flat
    return dataclasses.replace(flat, adopted=flat.adopted | made)


COMPUTE_CLASSES = frozenset({'VCPU', 'PCPU', 'MEMORY_MB'})
"""What nova puts on a compute node's root and no other service's
provider offers: on a child that a rollback leaves, it is a child the
rollback does not know."""


def check_rollback(plan: engine.ReshapePlan,
                   restored: Mapping[str, Any]) -> None:
    """Refuse a rollback that leaves on a child of the node a class the
    root offers after it (gets back from the journal, or regains), or a
    compute class (:data:`COMPUTE_CLASSES`): the child is one the
    rollback does not know, its consumers would stay on it, and the
    capacity might be counted twice.

    :raises RollbackIncomplete: naming the child, its classes, and the
        options that can tell the rollback about it.
    """
    root = plan.after.providers[plan.root]
    before = plan.before.providers[plan.root]
    watched = COMPUTE_CLASSES | (set(root.inventory)
                                 - set(before.inventory)) | (
        set(restored) & set(root.inventory))
    left = [(p, sorted(set(p.inventory) & watched))
            for p in plan.after.providers.values()
            if p.parent is not None and set(p.inventory) & watched]
    if not left:
        return
    kept = '; '.join(f'{p.name} ({p.uuid}) keeps {", ".join(classes)}'
                     for p, classes in left)
    raise exception.RollbackIncomplete(
        node=plan.node,
        reason=f'{kept}, which the rollback would leave there: it does '
               f'not know these children as the node\'s own (no pre-image '
               f'of the journal names them, and no layout rule does), so '
               f'their consumers would stay on them, and the root getting '
               f'the classes back would count them twice. Give --layouts '
               f'with the rule that made them (or --from-nova), or roll '
               f'back without --no-journal where the journal of their '
               f'pivot is kept (--state-dir). Nothing was changed')


_MAY_RESHAPE: weakref.WeakKeyDictionary[PlacementClient, bool] = (
    weakref.WeakKeyDictionary())


def require_reshape_policy(client: PlacementClient) -> None:
    """Before anything is written: can these credentials reshape?  A
    pivot refused at its reshape would leave empty children behind.
    Placement is asked once per client (``check`` asks the same).

    :raises PermissionDenied: they lack the ``service`` role.
    """
    allowed = _MAY_RESHAPE.get(client)
    if allowed is None:
        allowed = _MAY_RESHAPE[client] = operations.may_reshape(client)
    if not allowed:
        raise exception.PermissionDenied(
            method='POST', url='/reshaper', status=403, error_code='',
            policy=RESHAPE_POLICY, detail='Nothing was written.')


def plan_rollback(client: PlacementClient, journal: Journal, node: str,
                  flat: Layout, *, use_journal: bool = True
                  ) -> tuple[read.NodeRead, engine.ReshapePlan]:
    """What :func:`rollback_node` would do, changing nothing: the node as
    read, and the plan (a dry run).

    :raises RollbackIncomplete: as :func:`rollback_node` refuses.
    """
    records = None
    if use_journal:
        flat = rollback_layout(client, journal, node, flat)
        records = flat_records(client, journal, node)
    state, plan = operations.read_and_plan(client, node, flat,
                                           root_inventory=records)
    check_rollback(plan, records or {})
    return state, plan


def flat_records(client: PlacementClient, journal: Journal, node: str
                 ) -> dict[str, Any] | None:
    """The root's records from before the node's last pivot, if any."""
    uuid, name = read.find_node(client, node)
    found = journal.flat_records(uuid, name)
    return {rc: inv.as_dict() for rc, inv in found.items()} if found \
        else None


class Request(compat.StrEnum):
    """What ``request`` found and did."""

    REQUESTED = 'requested'
    WITHDRAWN = 'withdrawn'
    ALREADY_REQUESTED = 'already requested'
    NOT_REQUESTED = 'not requested'
    ALREADY_PIVOTED = 'already pivoted'
    NOT_APPLICABLE = 'not applicable'
    CANNOT_PIVOT = 'cannot pivot'

    @property
    def changed(self) -> bool:
        return self in (Request.REQUESTED, Request.WITHDRAWN)


@dataclasses.dataclass(frozen=True)
class RequestOutcome:
    """What ``request`` did to one node; ``status`` is the node's status
    that kept it from being requested (cannot be pivoted: its
    ``problem`` or its ``note`` says why)."""

    node: str
    uuid: str
    result: Request
    status: NodeStatus | None = None


def request_pivot(client: PlacementClient, node: str,
                  layouts: Layouts | None, *, cancel: bool = False,
                  force: bool = False) -> RequestOutcome:
    """Ask for (or withdraw) ``node``'s pivot at its next nova-compute
    start: a trait on its root provider, which both sides see.  A node
    that its rule (in ``layouts``) finds pivoted or not applicable is not
    requested, nor, unless ``force``, one that cannot be pivoted (its
    instances do not fit, or its facts refuse it): with ``on_infeasible =
    fail`` its nova-compute would not start."""
    uuid, name = read.find_node(client, node)
    if cancel:
        change = engine.TraitChange(remove=frozenset([REQUEST_TRAIT]))
        done = writes.put_traits(client, uuid, change, node=name)
        return RequestOutcome(name, uuid, Request.WITHDRAWN if done
                              else Request.NOT_REQUESTED)
    if layouts is not None and name in layouts.refused and not force:
        return RequestOutcome(name, uuid, Request.CANNOT_PIVOT, report_node(
            client, uuid, name, None, layouts.refused[name]))
    rule = layouts.rule_for(name) if layouts is not None else None
    refused, found = _unrequestable(client, uuid, name, rule, force)
    if refused is not None:
        return RequestOutcome(name, uuid, refused, found)
    writes.ensure_trait(client, REQUEST_TRAIT)
    change = engine.TraitChange(add=frozenset([REQUEST_TRAIT]))
    done = writes.put_traits(client, uuid, change, node=name)
    return RequestOutcome(name, uuid, Request.REQUESTED if done
                          else Request.ALREADY_REQUESTED)


NOT_REQUESTED = {NodeState.PIVOTED: Request.ALREADY_PIVOTED,
                 NodeState.NOT_APPLICABLE: Request.NOT_APPLICABLE,
                 NodeState.CANNOT_PIVOT: Request.CANNOT_PIVOT}
"""The states whose nodes ``request`` leaves alone, and what it says."""


def _unrequestable(client: PlacementClient, uuid: str, name: str,
                   rule: Rule | None, force: bool
                   ) -> tuple[Request | None, NodeStatus | None]:
    if rule is None:
        return Request.NOT_APPLICABLE, None
    found = report_node(client, uuid, name, rule)
    if force and found.state is NodeState.CANNOT_PIVOT:
        return None, None
    return NOT_REQUESTED.get(found.state), found


@dataclasses.dataclass(frozen=True)
class Preflight:
    """Can pivots be applied at all with these credentials?"""

    microversion: str
    reshaper_policy: bool


def preflight(client: PlacementClient) -> Preflight:
    version = client.version()
    return Preflight(microversion.text(version),
                     operations.may_reshape(client))


def report_node(client: PlacementClient, uuid: str, name: str,
                rule: Rule | None, refused: str = '',
                unmatched: str = 'no layout rule matches') -> NodeStatus:
    """Where one node stands against its rule; never raises for a node
    that cannot be pivoted.  A node ``refused`` (its facts forbid a
    pivot) cannot be pivoted, for that reason; one without a rule is not
    applicable, for the reason ``unmatched``."""
    if refused:
        return NodeStatus(name, uuid, NodeState.CANNOT_PIVOT, note=refused)
    if rule is None:
        return NodeStatus(name, uuid, NodeState.NOT_APPLICABLE,
                          note=unmatched)
    try:
        found = operations.status(client, uuid, rule.layout,
                                  hints=rule.hints.get(name))
    except operations.UNFIT as err:
        return NodeStatus(name, uuid, NodeState.CANNOT_PIVOT, problem=err)
    return dataclasses.replace(found, node=name, uuid=uuid)


def survey(client: PlacementClient, layouts: Layouts,
           roots: list[tuple[str, str]] | None = None,
           progress: Callable[[NodeStatus], None] | None = None
           ) -> list[NodeStatus]:
    """The report of every compute node (or of ``roots``, as
    :func:`read.list_roots` gives them), in name order."""
    def one(root: tuple[str, str]) -> NodeStatus:
        name = root[1]
        report = report_node(client, *root, layouts.rule_for(name),
                             layouts.refused.get(name, ''),
                             layouts.unmatched.get(name,
                                                   'no layout rule matches'))
        if progress is not None:
            progress(report)
        return report

    if roots is None:
        roots = read.list_roots(client)
    read.expect(client, [uuid for uuid, _ in roots])
    return read.concurrently(client, one, roots)
