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

"""Apply a layout to a snapshot: the tree the node should have."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
import dataclasses
import uuid as uuidlib

import os_traits

from nested_pivot import exception
from nested_pivot import names
from nested_pivot.engine import fields
from nested_pivot.engine.model import Provider
from nested_pivot.engine.model import Snapshot
from nested_pivot.engine.root import records as root_records
from nested_pivot.layout import Child
from nested_pivot.layout import Inventory
from nested_pivot.layout import Layout
from nested_pivot.layout import merge_inventories

# Children get uuids derived from the root and their short name, so that
# planning twice gives the same uuids and a retried pivot finds its own.
_NAMESPACE = uuidlib.UUID('5a0d3c1e-7b3f-4f55-9d40-6e1ad0c1b7a2')


@dataclasses.dataclass(frozen=True)
class Target:
    """The node before and after: what to create, change and remove.

    ``foreign`` providers are in the node's tree but not the layout's
    (another service's), or sharing providers the layout sends a class to:
    they are in ``after`` exactly as they were.  ``sharing`` maps such a
    class to its sharing provider.  ``reparented`` children move under a
    new parent; ``renamed`` ones take the name the layout gives them.
    ``destinations`` maps a class to the child (uuid) its allocations
    leaving the root go to.  ``successors`` maps a provider removed
    because the tree cannot rename it to the child created in its place
    (a device's allocations follow it there).
    """

    before: Snapshot
    after: Snapshot
    created: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    foreign: frozenset[str] = frozenset()
    sharing: Mapping[str, str] = dataclasses.field(default_factory=dict)
    reparented: tuple[str, ...] = ()
    destinations: Mapping[str, str] = dataclasses.field(
        default_factory=dict)
    renamed: tuple[str, ...] = ()
    successors: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def node(self) -> str:
        return self.before.root_provider.name

    def name(self, uuid: str) -> str:
        provider = (self.after.providers.get(uuid)
                    or self.before.providers[uuid])
        return provider.name

    def inventory_changed(self, uuid: str) -> bool:
        old = self.before.providers.get(uuid)
        new = self.after.providers.get(uuid)
        return (old is None or new is None
                or dict(old.inventory) != dict(new.inventory))

    def trait_change(self, uuid: str) -> TraitChange:
        old = self.before.providers.get(uuid)
        before = old.traits if old is not None else frozenset()
        after = self.after.providers[uuid].traits
        return TraitChange(add=after - before, remove=before - after)


@dataclasses.dataclass(frozen=True)
class TraitChange:
    """Traits to add to a provider and traits to remove from it; every
    other trait it has stays."""

    add: frozenset[str] = frozenset()
    remove: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.add or self.remove)

    def applied(self, traits: Iterable[str]) -> frozenset[str]:
        return (frozenset(traits) - self.remove) | self.add


def unchanged(snapshot: Snapshot) -> Target:
    """The tree is already in its target shape."""
    return Target(before=snapshot, after=snapshot)


def child_uuid(root: str, short_name: str) -> str:
    return str(uuidlib.uuid5(_NAMESPACE, f'{root}/{short_name}'))


def created_here(snapshot: Snapshot, uuid: str) -> bool:
    """Did nested_pivot create this child of the node?

    It did when the child is named ``<node>_<short name>`` and its uuid is
    :func:`child_uuid` of the root and that short name: ownership that
    anyone can check from what Placement shows, with no marker to add.
    """
    provider = snapshot.providers[uuid]
    prefix = snapshot.root_provider.name + '_'
    return (uuid != snapshot.root and provider.name.startswith(prefix)
            and uuid == child_uuid(snapshot.root,
                                   provider.name[len(prefix):]))


MARKS = frozenset([os_traits.COMPUTE_MANAGED_PCI_DEVICE,
                   os_traits.OWNER_CYBORG])
"""Traits that say another owner manages a provider: nova's PCI in
placement, Cyborg.  A layout child that lists the trait itself claims the
provider as that owner's code would (nova's PCI translator, ported)."""


def owned(snapshot: Snapshot, layout: Layout, concern: bool = False
          ) -> frozenset[str]:
    """The children of the node that ``layout`` manages.

    Those it names (its children, ``adopted`` and ``keep``; ``adopted``
    may name a child by uuid), and those nested_pivot created.  With
    ``concern`` the layout is one concern of several on the node (the
    nova hook's way): of the children nested_pivot created it owns only
    those that carry nothing but classes it manages, so another concern's
    children are foreign to it.  Every other child is foreign.
    """
    named = _named(snapshot, layout)
    return frozenset(
        u for u, p in snapshot.providers.items()
        if u != snapshot.root and (
            p.name in named or u in layout.adopted
            or (created_here(snapshot, u)
                and (not concern or _only_managed(p, layout)))))


def _named(snapshot: Snapshot, layout: Layout) -> set[str]:
    prefix = snapshot.root_provider.name + '_'
    return {prefix + name for name in layout.names}


def _only_managed(provider: Provider, layout: Layout) -> bool:
    return bool(provider.inventory) and set(provider.inventory) <= \
        layout.classes


def kept(snapshot: Snapshot, layout: Layout) -> frozenset[str]:
    """The children the layout keeps exactly as they are."""
    prefix = snapshot.root_provider.name + '_'
    names_ = {prefix + name for name in layout.keep}
    return frozenset(u for u, p in snapshot.providers.items()
                     if u != snapshot.root and p.name in names_)


def apply_layout(snapshot: Snapshot, layout: Layout,
                 exists: Callable[[str], bool],
                 root: Mapping[str, Inventory] | None = None,
                 sharing: Mapping[str, Provider] | None = None,
                 reparent: bool = False, *, concern: bool = False,
                 flat: Mapping[str, Inventory] | None = None,
                 rename: bool = True) -> Target:
    """The target tree of ``layout`` over ``snapshot``.

    ``exists`` tells whether a provider name is taken anywhere, so that a
    clash with a provider outside this node is reported up front.  ``root``
    gives the root's records for classes no child carries (e.g. the flat
    records a rollback restores); the others follow the default rule.
    ``sharing`` holds the sharing providers the layout names, by name or
    uuid as the layout does.  Without ``reparent`` a child that exists
    under another parent is refused.  With ``rename`` a child found under
    one of its former names is renamed in place; without, that provider is
    removed and the child created anew (a tree that cannot rename).

    With ``concern`` the layout is one concern of the node (see
    :func:`owned`): it changes only the classes it manages on the children
    it shares with another concern, removes a child only when nothing of
    another concern is left on it, and the root gets exactly ``root`` (the
    caller writes the root itself), so the root never regains a class.
    ``flat`` holds the node's flat records, from which the fields a layout
    leaves out are derived (:mod:`nested_pivot.engine.fields`); by default
    the root's own.
    """
    given = dict(root or {})
    carried = sorted(set(given) & layout.resource_classes)
    if carried:
        raise exception.InvalidLayout(
            reason=f'root inventory names {", ".join(carried)}, which the '
                   'children carry')
    shared = _sharing(snapshot, layout, sharing or {})
    snapshot = _with(snapshot, shared.values())
    root_provider = snapshot.root_provider
    left = kept(snapshot, layout)
    mine = owned(snapshot, layout, concern) - left
    _check_marks(snapshot, layout)
    children = _children(snapshot, layout, exists, reparent,
                         _Fields(snapshot, layout, mine, flat), concern,
                         rename)
    children += _stripped(snapshot, layout, mine, children, concern)
    after_uuids = {p.uuid for p in children}
    removed = tuple(reversed([u for u in snapshot.providers
                              if u in mine and u not in after_uuids]))
    foreign = frozenset(u for u in snapshot.providers
                        if u != root_provider.uuid and u not in mine)
    _check_removable(snapshot, removed, foreign)
    inventory = (given if concern and root is not None else
                 _root_inventory(snapshot, layout, mine, children, given,
                                 regain=not concern))
    new_root = dataclasses.replace(
        root_provider, traits=_root_traits(layout, root_provider),
        inventory=inventory)
    after = Snapshot(root_provider.uuid, {
        root_provider.uuid: new_root, **{p.uuid: p for p in children},
        **{u: p for u, p in snapshot.providers.items() if u in foreign}})
    created = tuple(p.uuid for p in children
                    if p.uuid not in snapshot.providers)
    moved = tuple(p.uuid for p in children if p.uuid in snapshot.providers
                  and snapshot.providers[p.uuid].parent != p.parent)
    renamed = tuple(p.uuid for p in children if p.uuid in snapshot.providers
                    and snapshot.providers[p.uuid].name != p.name)
    uuids = {p.name: p.uuid for p in children}
    prefix = root_provider.name + '_'
    return Target(snapshot, after, created, removed, foreign,
                  {rc: p.uuid for rc, p in shared.items()}, moved,
                  {rc: uuids[prefix + name]
                   for rc, name in layout.destinations.items()}, renamed,
                  _successors(snapshot, layout, uuids, removed))


def _successors(snapshot: Snapshot, layout: Layout, uuids: dict[str, str],
                removed: tuple[str, ...]) -> dict[str, str]:
    """Each provider removed under a child's former name (a tree that
    cannot rename it), and the child created in its place."""
    prefix = snapshot.root_provider.name + '_'
    by_name = {p.name: p.uuid for p in snapshot.providers.values()}
    return {by_name[prefix + old]: uuids[prefix + child.name]
            for child in layout.children for old in sorted(child.former)
            if by_name.get(prefix + old) in removed}


def _check_marks(snapshot: Snapshot, layout: Layout) -> None:
    """A named provider that nested_pivot did not create is adopted only
    when nothing on it says another owner manages it."""
    prefix = snapshot.root_provider.name + '_'
    for child, name in ((c, n) for c in layout.children
                        for n in (c.name, *sorted(c.former))):
        provider = _by_name(snapshot, prefix + name)
        if provider is None or created_here(snapshot, provider.uuid):
            continue
        marks = sorted((provider.traits & MARKS) - child.traits)
        others = sorted(set(provider.inventory) - layout.classes)
        if marks or (others and child.inventory):
            what = (f'trait {", ".join(marks)}' if marks else
                    f'inventory of {", ".join(others)}, which the layout '
                    f'does not manage')
            raise exception.ForeignProvider(
                node=snapshot.root_provider.name, provider=provider.name,
                uuid=provider.uuid, child=child.name, marks=what)


def _by_name(snapshot: Snapshot, name: str) -> Provider | None:
    for provider in snapshot.providers.values():
        if provider.name == name:
            return provider
    return None


class _Fields:
    """Fills the inventory fields a layout leaves out
    (:mod:`nested_pivot.engine.fields`), children in layout order."""

    def __init__(self, snapshot: Snapshot, layout: Layout,
                 mine: frozenset[str],
                 flat: Mapping[str, Inventory] | None) -> None:
        self.node = snapshot.root_provider.name
        self.former = dict(flat if flat is not None
                           else snapshot.root_provider.inventory)
        self.siblings: dict[str, Inventory] = {}
        for rc, records in sorted(_records_of(snapshot, mine).items()):
            try:
                self.siblings[rc] = merge_inventories(rc, records)
            except exception.InvalidLayout:
                continue
        # Only the node's own flat reserved is placed on a new child: the
        # children's own are kept where they are.
        self.pool = fields.Pool.of(
            flat if flat is not None else snapshot.root_provider.inventory)

    def resolve(self, child: Child, current: Provider | None
                ) -> dict[str, Inventory]:
        return fields.resolve(self.node, child,
                              current.inventory if current else {},
                              self.former, self.pool, self.siblings)


def _records_of(snapshot: Snapshot, uuids: frozenset[str]
                ) -> dict[str, list[Inventory]]:
    found: dict[str, list[Inventory]] = {}
    for uuid in (u for u in snapshot.providers if u in uuids):
        for rc, inv in snapshot.providers[uuid].inventory.items():
            found.setdefault(rc, []).append(inv)
    return found


def _stripped(snapshot: Snapshot, layout: Layout, mine: frozenset[str],
              children: list[Provider], concern: bool) -> list[Provider]:
    """As one concern of the node, the children it owns and no longer
    lists that still hold another concern's classes or children: they
    stay, without this layout's classes.  Deepest first decides, so that
    a parent is kept for a child that stays."""
    if not concern:
        return []
    listed = {p.uuid for p in children}
    staying: dict[str, Provider] = {}
    for uuid in reversed(list(snapshot.providers)):
        if uuid not in mine or uuid in listed:
            continue
        provider = snapshot.providers[uuid]
        rest = {rc: inv for rc, inv in provider.inventory.items()
                if rc not in layout.classes}
        below = [u for u in snapshot.children(uuid)
                 if u not in mine or u in listed or u in staying]
        if rest or below:
            staying[uuid] = dataclasses.replace(provider, inventory=rest)
    return [staying[u] for u in snapshot.providers if u in staying]


def _sharing(snapshot: Snapshot, layout: Layout,
             found: Mapping[str, Provider]) -> dict[str, Provider]:
    """The sharing provider of each class the layout sends to one."""
    result = {}
    for rc, ref in sorted(layout.sharing.items()):
        provider = found.get(ref)
        if provider is None:
            raise exception.InvalidLayout(
                reason=f'{rc} goes to sharing provider {ref}, which is not '
                       f'known to node {snapshot.root_provider.name}')
        if os_traits.MISC_SHARES_VIA_AGGREGATE not in provider.traits:
            raise exception.InvalidLayout(
                reason=f'{rc} goes to {provider.name}, which is not a '
                       f'sharing provider (no trait '
                       f'{os_traits.MISC_SHARES_VIA_AGGREGATE})')
        if rc not in provider.inventory:
            raise exception.InvalidLayout(
                reason=f'{rc} goes to sharing provider {provider.name}, '
                       f'which offers no {rc}')
        result[rc] = dataclasses.replace(provider, parent=None)
    return result


def _with(snapshot: Snapshot, extra: Iterable[Provider]) -> Snapshot:
    """``snapshot`` with the sharing providers after the node's own."""
    added = {p.uuid: p for p in extra if p.uuid not in snapshot.providers}
    if not added:
        return snapshot
    return Snapshot(snapshot.root, {**snapshot.providers, **added})


def _root_traits(layout: Layout, root: Provider) -> frozenset[str]:
    return (root.traits - layout.drop_root_traits) | layout.root_traits


def _children(snapshot: Snapshot, layout: Layout,
              exists: Callable[[str], bool], reparent: bool,
              filled: _Fields, concern: bool,
              rename: bool = True) -> list[Provider]:
    by_name = {p.name: p for p in snapshot.providers.values()}
    uuids: dict[str | None, str] = {None: snapshot.root}
    children = []
    for child in layout.children:  # parents first
        provider = _child_provider(snapshot, by_name, layout, child,
                                   uuids[child.parent], exists, reparent,
                                   filled, concern, rename)
        uuids[child.name] = provider.uuid
        children.append(provider)
    return children


def _traits(layout: Layout, child: Child, current: Provider | None
            ) -> frozenset[str]:
    """The layout's traits, plus every trait already there that the
    layout does not manage (an operator's, another service's)."""
    kept = frozenset(
        t for t in (current.traits if current else ())
        if not layout.manages_trait(t))
    return child.traits | kept


def _check_removable(snapshot: Snapshot, removed: tuple[str, ...],
                     foreign: frozenset[str]) -> None:
    # Placement refuses to delete a provider that has children, and a
    # foreign one must not go with it.
    for uuid in removed:
        below = sorted(snapshot.providers[u].name
                       for u in snapshot.descendants(uuid) if u in foreign)
        if below:
            raise exception.InvalidLayout(
                reason=f'child {snapshot.providers[uuid].name} of node '
                       f'{snapshot.root_provider.name} would be removed, '
                       f'but it has providers of another service below '
                       f'it: {", ".join(below)}')


def _child_provider(snapshot: Snapshot, by_name: dict[str, Provider],
                    layout: Layout, child: Child, parent: str,
                    exists: Callable[[str], bool], reparent: bool,
                    filled: _Fields, concern: bool,
                    rename: bool = True) -> Provider:
    name = f'{snapshot.root_provider.name}_{child.name}'
    if len(name) > names.MAX_PROVIDER_NAME:
        raise exception.InvalidLayout(
            reason=f'child {child.name} of node {snapshot.root_provider.name}'
                   f' would be named {name}, {len(name)} characters: '
                   f'Placement allows {names.MAX_PROVIDER_NAME}')
    current = _current(snapshot, by_name, child, name, exists)
    if current is None and rename:
        current = _former(snapshot, by_name, child, name, exists)
    if current is not None and current.parent != parent and not reparent:
        raise exception.InvalidLayout(
            reason=f'child {child.name} exists as {name} under '
                   f'{snapshot.providers[current.parent or ""].name}, and '
                   f'the layout puts it under {child.parent or "the root"}:'
                   f' this provider tree cannot move it under a new parent;'
                   f' Placement can from microversion 1.37, which '
                   f'"nested-pivot apply" uses')
    uuid = (current.uuid if current
            else child.uuid or child_uuid(snapshot.root, child.name))
    inventory = filled.resolve(child, current)
    if concern and current is not None:
        # Another concern's classes on a shared child stay as they are.
        inventory = {**{rc: inv for rc, inv in current.inventory.items()
                        if rc not in layout.classes}, **inventory}
    return Provider(
        uuid=uuid, name=name, parent=parent,
        generation=current.generation if current else None,
        inventory=inventory, traits=_traits(layout, child, current))


def _current(snapshot: Snapshot, by_name: dict[str, Provider],
             child: Child, name: str, exists: Callable[[str], bool]
             ) -> Provider | None:
    """The provider the child is now, if any: by name, and by its fixed
    uuid, which must then carry that name."""
    current = by_name.get(name)
    if child.uuid is not None:
        fixed = snapshot.providers.get(child.uuid)
        if (fixed or current) and (fixed is not current):
            other = fixed or current
            assert other is not None
            raise exception.InvalidLayout(
                reason=f'child {child.name} has uuid {child.uuid}, but '
                       f'{other.name} ({other.uuid}) holds that name or '
                       f'uuid in node {snapshot.root_provider.name}')
    if current is None and exists(name):
        raise exception.InvalidTree(
            reason=f'provider name {name} is taken by a provider outside '
                   f'node {snapshot.root_provider.name}')
    return current


def _former(snapshot: Snapshot, by_name: dict[str, Provider], child: Child,
            name: str, exists: Callable[[str], bool]) -> Provider | None:
    """The provider of the node under one of the child's former names,
    which the child takes over under its own name."""
    node = snapshot.root_provider.name
    found = [by_name[f'{node}_{old}'] for old in sorted(child.former)
             if f'{node}_{old}' in by_name]
    if not found:
        return None
    if len(found) > 1:
        raise exception.InvalidLayout(
            reason=f'child {child.name} of node {node} has former names '
                   f'{", ".join(p.name for p in found)}, each a provider '
                   f'of the node: which one it was is not known')
    if exists(name):
        raise exception.InvalidTree(
            reason=f'provider {found[0].name} would be renamed {name}, '
                   f'a name taken by a provider outside node {node}')
    return found[0]


def _root_inventory(snapshot: Snapshot, layout: Layout,
                    mine: frozenset[str], children: list[Provider],
                    given: Mapping[str, Inventory], regain: bool = True
                    ) -> dict[str, Inventory]:
    """The root's records by :func:`nested_pivot.engine.root.records`:
    the classes that leave the children it owns (with ``regain``) are the
    ones they held that no child keeps."""
    after = {p.uuid: p for p in children}
    returning: dict[str, list[Inventory]] = {}
    for uuid in (u for u in snapshot.providers if u in mine and regain):
        kept = after.get(uuid)
        for rc, inv in snapshot.providers[uuid].inventory.items():
            if rc not in layout.resource_classes and (
                    kept is None or rc not in kept.inventory):
                returning.setdefault(rc, []).append(inv)
    name = snapshot.root_provider.name
    return root_records(
        snapshot.root_provider.inventory, layout.resource_classes, given,
        set(returning),
        lambda missing: {rc: merge_inventories(f'node {name} {rc}',
                                               returning[rc])
                         for rc in sorted(missing)})
