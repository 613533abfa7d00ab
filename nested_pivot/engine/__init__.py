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

"""The pivot engine: plan a reshape of one node, with no I/O.

:func:`plan_snapshot` is the engine's own entry point: a typed
:class:`Snapshot` of the node and typed :class:`ConsumerRecord` values in,
a :class:`ReshapePlan` out.  The Placement layer feeds it directly.

:func:`reshape` and :func:`plan` are the adapters for nova's shapes: they
read a provider tree and nova's allocations dict into those values, plan,
and (``reshape``) only then write the target tree and the final
allocations back, so that on any error neither changes.

Importing the engine loads no HTTP client.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import MutableMapping
from typing import Any

from nested_pivot import exception
from nested_pivot import names
from nested_pivot.engine import allocations as allocations_mod
from nested_pivot.engine import facts
from nested_pivot.engine import hints as hints_mod
from nested_pivot.engine import packing
from nested_pivot.engine import target as target_mod
from nested_pivot.engine.allocations import ConsumerRecord
from nested_pivot.engine.build import build
from nested_pivot.engine.displace import find_displaced
from nested_pivot.engine.model import find_root
from nested_pivot.engine.model import Provider
from nested_pivot.engine.model import read_provider
from nested_pivot.engine.model import read_snapshot
from nested_pivot.engine.model import Snapshot
from nested_pivot.engine.model import TreeLike
from nested_pivot.engine.model import Usage
from nested_pivot.engine.result import amount_changes
from nested_pivot.engine.result import AmountChange
from nested_pivot.engine.result import BelowUsage
from nested_pivot.engine.result import Correction
from nested_pivot.engine.result import Heal
from nested_pivot.engine.result import Move
from nested_pivot.engine.result import ProviderInventory
from nested_pivot.engine.result import ReshapePlan
from nested_pivot.engine.solve import solve
from nested_pivot.engine.target import apply_layout
from nested_pivot.engine.target import TraitChange
from nested_pivot.engine.target import unchanged
from nested_pivot.layout import Inventory
from nested_pivot.layout import Layout

__all__ = ['AmountChange', 'BelowUsage', 'ConsumerRecord', 'Correction',
           'Heal', 'Move', 'Provider', 'ProviderInventory', 'ReshapePlan',
           'Snapshot', 'TraitChange', 'TreeLike', 'Usage', 'amount_changes',
           'owned_children', 'plan', 'plan_snapshot', 'reshape']


def reshape(provider_tree: TreeLike,
            allocations: MutableMapping[str, Any], *,
            layout: Layout | None = None,
            hints: Mapping[str, Any] | None = None,
            nodename: str | None = None,
            root_inventory: Mapping[str, Any] | None = None,
            budget: int = packing.DEFAULT_BUDGET,
            reparent: bool | None = None, concern: bool = False,
            flat: Mapping[str, Any] | None = None) -> ReshapePlan:
    """Plan the reshape of one node and apply it to the tree and the dict.

    With ``layout`` the tree is first brought to the layout's shape;
    without it the tree is taken as already in its target shape.
    ``allocations`` is edited in place to the final state, and only on
    success.  ``nodename`` names the root when the tree holds several.
    ``root_inventory`` (with a layout) sets the root's records of classes
    no child carries.  ``reparent`` allows moving a child under a new
    parent; by default when the tree can (``nested_pivot.ProviderTree``
    can, nova's cannot).  ``concern`` plans the layout as one concern of
    several on the node, and ``flat`` gives the node's flat records that
    the fields a layout leaves out follow (see :func:`plan_snapshot`).
    """
    result = plan(provider_tree, allocations, layout=layout, hints=hints,
                  nodename=nodename, root_inventory=root_inventory,
                  budget=budget, reparent=reparent, concern=concern,
                  flat=flat)
    # Order matters: the tree first, so that children exist before the
    # allocations dict refers to them, as nova reads both afterwards.
    _apply_tree(provider_tree, result)
    _apply_allocations(allocations, result)
    return result


def plan(provider_tree: TreeLike, allocations: Mapping[str, Any], *,
         layout: Layout | None = None,
         hints: Mapping[str, Any] | None = None,
         nodename: str | None = None,
         root_inventory: Mapping[str, Any] | None = None,
         budget: int = packing.DEFAULT_BUDGET,
         reparent: bool | None = None, concern: bool = False,
         flat: Mapping[str, Any] | None = None) -> ReshapePlan:
    """Like :func:`reshape`, but change nothing: only return the plan."""
    _check_arguments(provider_tree, layout, root_inventory, budget)
    root = find_root(provider_tree, nodename)
    return plan_snapshot(
        read_snapshot(provider_tree, root),
        allocations_mod.parse(allocations), layout, hints=hints,
        root_inventory=root_inventory, budget=budget,
        exists=provider_tree.exists,
        sharing=_sharing(provider_tree, layout),
        reparent=(callable(getattr(provider_tree, 'reparent', None))
                  if reparent is None else reparent),
        concern=concern, flat=flat,
        rename=callable(getattr(provider_tree, 'rename', None)))


def _sharing(tree: TreeLike, layout: Layout | None) -> dict[str, Provider]:
    """The sharing providers the layout names, as the tree holds them."""
    refs = layout.sharing.values() if layout is not None else ()
    return {ref: read_provider(tree, ref) for ref in refs
            if tree.exists(ref)}


def plan_snapshot(snapshot: Snapshot,
                  records: Mapping[str, ConsumerRecord],
                  layout: Layout | None, *,
                  hints: Mapping[str, Any] | None = None,
                  root_inventory: Mapping[str, Any] | None = None,
                  budget: int = packing.DEFAULT_BUDGET,
                  exists: Callable[[str], bool] | None = None,
                  sharing: Mapping[str, Provider] | None = None,
                  reparent: bool = False, concern: bool = False,
                  flat: Mapping[str, Any] | None = None,
                  rename: bool = True) -> ReshapePlan:
    """Plan the reshape of the node in ``snapshot``: its typed entry point.

    ``records`` are the consumers' allocations (those on other providers
    included).  ``exists`` tells whether a provider name is taken outside
    the node, when the caller knows; a clash is otherwise found when the
    child is created.  ``sharing`` holds the sharing providers the layout
    names (by the layout's name or uuid for each).  ``reparent`` allows
    moving an existing child under a new parent; ``rename`` renaming a
    child found under a former name (else it is re-created).

    ``concern`` plans ``layout`` as one concern of several on the node
    (the nova hook's way, one layout per driver helper): it owns only the
    children it names and those nested_pivot created that carry only its
    classes, it leaves another concern's classes where they are, and the
    root gets exactly ``root_inventory``.  ``flat`` holds the node's flat
    records (the driver's flat inventory), from which the inventory fields
    a layout leaves out are derived; by default the root's own.
    """
    target = (apply_layout(snapshot, layout, exists or _unknown,
                           _records('root inventory', root_inventory),
                           sharing, reparent, concern=concern,
                           flat=_records('flat records', flat),
                           rename=rename)
              if layout is not None else unchanged(snapshot))
    # Order matters: conversions rename what consumers hold before
    # anything is found displaced, and corrections then trim what they
    # hold; heals (and the missing parts corrections add) are placed with
    # the moves.
    stated = facts.split(hints)
    if layout is not None:
        facts.check_declared(stated, layout.converts, layout.heals)
    converted, conversions = facts.convert(records, stated.converts, target)
    corrected = facts.corrections(converted, stated.corrects, target)
    converted = corrected.records
    healed, heal_placed = facts.heals(converted, stated.heals, target)
    managed = (layout.classes | layout.heals | frozenset(layout.converts)
               | frozenset(layout.converts.values())
               if layout is not None else None)
    displaced = (find_displaced(target, converted, managed) + healed
                 + corrected.items)
    placements, topped = hints_mod.top_ups(
        stated.placements, target, converted, displaced,
        layout.heals if layout is not None else frozenset())
    displaced += topped
    hinted = hints_mod.resolve(placements, target, converted, displaced)
    for placed in (heal_placed, corrected.placed):
        for consumer, per_rc in placed.items():
            for rc, split in per_rc.items():
                mine = hinted.setdefault(consumer, {}).setdefault(rc, {})
                for uuid, amount in split.items():
                    mine[uuid] = mine.get(uuid, 0) + amount
    moves, final, below = solve(target, converted, displaced, hinted,
                                budget)
    return build(target, records, converted, moves, final, conversions,
                 below, corrected.removed)


def _unknown(_name: str) -> bool:
    return False


_TREE_METHODS = ('get_provider_uuids', 'data', 'exists', 'new_child',
                 'remove', 'update_inventory', 'update_traits')


def _check_arguments(provider_tree: Any, layout: Any, root_inventory: Any,
                     budget: Any) -> None:
    """Type errors before anything is read, so none surfaces halfway."""
    if not all(callable(getattr(provider_tree, m, None))
               for m in _TREE_METHODS):
        raise TypeError(f'provider_tree must be a ProviderTree (nova\'s or '
                        f'nested_pivot\'s), not {provider_tree!r}')
    if layout is not None and not isinstance(layout, Layout):
        raise TypeError(f'layout must be a Layout, not {layout!r}')
    if root_inventory is not None and not isinstance(root_inventory,
                                                     Mapping):
        raise TypeError(f'root_inventory must be a mapping of resource '
                        f'class to record, not {root_inventory!r}')
    if root_inventory is not None and layout is None:
        raise TypeError('root_inventory needs a layout')
    if not isinstance(budget, int) or isinstance(budget, bool) \
            or budget < 1:
        raise TypeError(f'budget must be a positive integer, not '
                        f'{budget!r}')


def owned_children(provider_tree: TreeLike, layout: Layout,
                   nodename: str | None = None, concern: bool = False
                   ) -> tuple[str, ...]:
    """The uuids of the node's children that ``layout`` manages, top-down:
    the children it names and those nested_pivot created (with
    ``concern``, only those that carry its classes).  The others belong to
    other services, or other concerns, and are never changed."""
    snapshot = read_snapshot(provider_tree,
                             find_root(provider_tree, nodename))
    mine = target_mod.owned(snapshot, layout, concern)
    return tuple(u for u in snapshot.providers if u in mine)


def _records(where: str, records: Mapping[str, Any] | None
             ) -> dict[str, Inventory] | None:
    if records is None:
        return None
    bad = sorted(str(rc) for rc in records
                 if not names.is_valid_resource_class(rc))
    if bad:
        raise exception.InvalidLayout(
            reason=f'{where}: unknown or malformed resource class '
                   f'{", ".join(bad)}')
    try:
        return {rc: Inventory.from_value(r) for rc, r in records.items()}
    except (TypeError, ValueError) as err:
        raise exception.InvalidLayout(reason=f'{where}: {err}') from None


def _apply_tree(tree: TreeLike, result: ReshapePlan) -> None:
    for uuid, name in result.renamed.items():
        tree.rename(uuid, name)  # type: ignore[attr-defined]
    for child in result.created:  # parents first
        assert child.parent is not None
        tree.new_child(child.name, child.parent, uuid=child.uuid)
    for uuid, parent in result.reparented.items():  # parents first
        tree.reparent(uuid, parent)  # type: ignore[attr-defined]
    for uuid, entry in result.inventories.items():
        if uuid in result.after.providers:
            tree.update_inventory(uuid, {rc: inv.as_dict() for rc, inv
                                         in entry.inventory.items()})
    for uuid, change in result.traits.items():
        tree.update_traits(uuid, change.applied(tree.data(uuid).traits))
    removed = set(result.removed)
    for uuid in result.removed:
        if result.before.providers[uuid].parent not in removed:
            tree.remove(uuid)  # takes its descendants along


def _apply_allocations(allocations: MutableMapping[str, Any],
                       result: ReshapePlan) -> None:
    """Edit nova's dict in place; never drop a consumer or other keys."""
    for consumer, record in result.allocations.items():
        entries = allocations[consumer]['allocations']
        for rp in list(entries):
            if rp not in record.allocations:
                del entries[rp]
        for rp, resources in record.allocations.items():
            entry = entries.setdefault(rp, {})
            entry['resources'] = dict(resources)
