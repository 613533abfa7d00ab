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

"""The declarative target shape of one compute node.

A :class:`Layout` lists the child providers a node should have, each with
its placement inventory and traits.  Resource classes that any child
carries leave the root; the root keeps the rest.  ``Layout(children=[])``
is the flat layout: everything returns to the root.

A layout manages only what it owns.  It owns the children it names, the
children nested_pivot created for the node (recognised by their uuid, see
:mod:`nested_pivot.engine.target`), and the children named in ``adopted``.
Every other provider in the node's tree (neutron's bandwidth providers,
nova's PCI providers, Cyborg's devices) is foreign: never removed, never
given or stripped of inventory, its allocations never moved.  On the
children it owns, a layout adds the traits it lists and removes only the
traits that match its ``managed_traits`` patterns without being listed;
every other trait (an operator's ``CUSTOM_NVIDIA_11``) stays.
"""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
import dataclasses
import fnmatch
import math
import types
import uuid as uuidlib

from nested_pivot import exception
from nested_pivot import names

MAX_INT = 2147483647
"""Placement's largest integer, and its default ``max_unit``."""

MAX_RATIO = 3.40282e+38
"""Placement's largest allocation ratio (a single-precision float)."""

_FIELDS = ('total', 'reserved', 'min_unit', 'max_unit', 'step_size',
           'allocation_ratio')


@dataclasses.dataclass(frozen=True)
class Inventory:
    """One placement inventory record; missing keys take placement's
    defaults."""

    total: int
    reserved: int = 0
    min_unit: int = 1
    max_unit: int = MAX_INT
    step_size: int = 1
    allocation_ratio: float = 1.0

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem:
            raise ValueError(problem)

    def _problem(self) -> str | None:
        for field in _FIELDS[:-1]:
            value = getattr(self, field)
            if not _is_int(value) or not 0 <= value <= MAX_INT:
                return f'{field} must be an integer in 0..{MAX_INT}, ' \
                       f'not {value!r}'
        ratio = self.allocation_ratio
        if (not isinstance(ratio, (int, float)) or isinstance(ratio, bool)
                or not math.isfinite(ratio) or not 0 < ratio <= MAX_RATIO):
            return (f'allocation_ratio must be a positive number up to '
                    f'{MAX_RATIO:g}, not {ratio!r}')
        if self.total < 1:
            return f'total must be at least 1, not {self.total}'
        if self.reserved > self.total:
            return f'reserved {self.reserved} exceeds total {self.total}'
        if not 1 <= self.min_unit <= self.max_unit:
            return (f'min_unit {self.min_unit} and max_unit {self.max_unit} '
                    'must satisfy 1 <= min_unit <= max_unit')
        if self.step_size < 1:
            return f'step_size must be at least 1, not {self.step_size}'
        return None

    @classmethod
    def from_value(cls, value: InventoryLike) -> Inventory:
        """Build from an Inventory, a total, or a record dict.

        :raises ValueError: naming the field that is wrong.
        """
        if isinstance(value, Inventory):
            return value
        if _is_int(value):
            return cls(total=int(value))  # type: ignore[arg-type]
        if not isinstance(value, Mapping):
            raise ValueError(f'expected a record or a total, not {value!r}')
        unknown = sorted(set(value) - set(_FIELDS))
        if unknown:
            raise ValueError(f'unknown inventory fields {unknown}')
        if 'total' not in value:
            raise ValueError('total is required')
        return cls(**value)  # type: ignore[arg-type]

    @property
    def capacity(self) -> float:
        """What placement lets consumers use, computed as placement does."""
        return (self.total - self.reserved) * self.allocation_ratio

    def admits(self, amount: int) -> bool:
        """True if one consumer may hold ``amount`` of this inventory."""
        return (self.min_unit <= amount <= self.max_unit
                and amount % self.step_size == 0)

    def as_dict(self) -> dict[str, int | float]:
        return dataclasses.asdict(self)


InventoryLike = Inventory | int | Mapping[str, int | float]


def shown(value: float) -> int | float:
    """A capacity as people read it: whole when it is, else 2 decimals."""
    return int(value) if float(value).is_integer() else round(value, 2)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def merge_inventories(where: str, records: Sequence[Inventory]) -> Inventory:
    """The flat equivalent of several records of one resource class.

    Totals and reserved amounts add up; allocation ratios, min_unit and
    step_size must agree, since one flat record cannot express several.
    max_unit adds up too, capped by placement's maximum.

    :raises InvalidLayout: when the records disagree.
    """
    first = records[0]
    for field in ('allocation_ratio', 'min_unit', 'step_size'):
        values = sorted({getattr(r, field) for r in records})
        if len(values) > 1:
            raise exception.InvalidLayout(
                reason=f'{where}: {field} differs across providers '
                       f'({", ".join(map(str, values))}); a flat record '
                       'cannot hold them')
    return Inventory(
        total=min(sum(r.total for r in records), MAX_INT),
        reserved=min(sum(r.reserved for r in records), MAX_INT),
        min_unit=first.min_unit,
        max_unit=min(sum(r.max_unit for r in records), MAX_INT),
        step_size=first.step_size,
        allocation_ratio=first.allocation_ratio)


@dataclasses.dataclass(frozen=True)
class Child:
    """One child provider of the node, created as ``<nodename>_<name>``.

    ``parent`` is another child's short name; ``None`` means the root.
    ``uuid`` fixes the provider's uuid, when a driver (or a test) needs a
    known one; by default it is derived from the root and the name.

    ``unset`` says, per class, which inventory fields the layout left out
    (computed from the inventory as given: a bare total leaves all but
    ``total``, a record its missing keys, an :class:`Inventory` none).
    The engine fills them by nova's rule: kept from Placement where the
    child already has the class, else derived from the root's former
    record (:mod:`nested_pivot.engine.fields`).  ``inventory`` holds
    Placement's defaults for them meanwhile.
    ``former`` are short names the child had before (an interface name,
    before PCI-backed children were named after their PCI address): a
    provider of the node under one of them is this child, renamed in
    place, its allocations untouched.
    """

    name: str
    parent: str | None = None
    inventory: Mapping[str, Inventory] = dataclasses.field(
        default_factory=dict)
    traits: frozenset[str] = frozenset()
    uuid: str | None = None
    unset: Mapping[str, frozenset[str]] | None = dataclasses.field(
        default=None, repr=False, compare=False)
    former: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise exception.InvalidLayout(
                reason=f'child name must be a non-empty string, '
                       f'not {self.name!r}')
        if self.parent is not None and not isinstance(self.parent, str):
            raise exception.InvalidLayout(
                reason=f'child {self.name}: parent must be a child name, '
                       f'not {self.parent!r}')
        if self.uuid is not None:
            object.__setattr__(self, 'uuid', _uuid(self.name, self.uuid))
        if self.unset is None:
            object.__setattr__(self, 'unset', types.MappingProxyType(
                _unset_fields(self.inventory)))
        object.__setattr__(self, 'inventory', self._checked_inventory())
        object.__setattr__(self, 'traits', self._checked_traits())
        object.__setattr__(self, 'former', _names(
            f'child {self.name}: former', self.former) - {self.name})

    def _checked_inventory(self) -> Mapping[str, Inventory]:
        if not isinstance(self.inventory, Mapping):
            raise exception.InvalidLayout(
                reason=f'child {self.name}: inventory must be a mapping of '
                       'resource class to record')
        checked = {}
        for rc, value in sorted(self.inventory.items()):
            if not names.is_valid_resource_class(rc):
                raise exception.InvalidLayout(
                    reason=f'child {self.name}: unknown or malformed '
                           f'resource class {rc!r}')
            try:
                checked[rc] = Inventory.from_value(value)
            except (TypeError, ValueError) as err:
                raise exception.InvalidLayout(
                    reason=f'child {self.name}: {rc}: {err}') from None
        return types.MappingProxyType(checked)

    def _checked_traits(self) -> frozenset[str]:
        if isinstance(self.traits, str):
            raise exception.InvalidLayout(
                reason=f'child {self.name}: traits must be a list of names')
        traits = frozenset(self.traits)
        bad = sorted(str(t) for t in traits if not names.is_valid_trait(t))
        if bad:
            raise exception.InvalidLayout(
                reason=f'child {self.name}: unknown or malformed traits '
                       f'{", ".join(bad)}')
        return traits

    def merged(self, other: Child) -> Child:
        """This child and a same-named one from another layout, as one."""
        if self.parent != other.parent:
            raise exception.InvalidLayout(
                reason=f'child {self.name} has two parents: '
                       f'{self.parent or "the root"} and '
                       f'{other.parent or "the root"}')
        both = sorted(set(self.inventory) & set(other.inventory))
        if both:
            raise exception.InvalidLayout(
                reason=f'child {self.name} gets {", ".join(both)} twice')
        if self.uuid and other.uuid and self.uuid != other.uuid:
            raise exception.InvalidLayout(
                reason=f'child {self.name} has two uuids: {self.uuid} and '
                       f'{other.uuid}')
        return Child(self.name, self.parent,
                     {**self.inventory, **other.inventory},
                     self.traits | other.traits, self.uuid or other.uuid,
                     unset={**(self.unset or {}), **(other.unset or {})},
                     former=self.former | other.former)

    def given(self, resource_class: str, field: str) -> bool:
        """Did the layout give ``field`` of ``resource_class``, rather than
        leave it to the default rule (see :mod:`nested_pivot.engine.fields`)?
        """
        return field not in (self.unset or {}).get(resource_class, ())


@dataclasses.dataclass(frozen=True)
class Layout:
    """The target tree of one node: its children, parents first.

    ``adopted`` names (short names, or provider uuids) children the layout
    owns without listing them: :meth:`flat` keeps its children's names
    there, so that a rollback also removes children that another tool
    (nova's own reshape code) made under those names; a rollback adds the
    uuids of the children the journal says the node's pivots made.
    ``managed_traits`` are glob patterns of
    the traits the layout manages on its children, as nova manages its
    capability traits: a trait that matches one and that the child does
    not list is removed.  Any other trait on a child is kept.

    ``sharing`` sends a class from the root to a sharing provider (trait
    MISC_SHARES_VIA_AGGREGATE, named by name or uuid) instead of to a
    child: ``{'DISK_GB': 'shared-storage'}``.  ``converts`` and ``heals``
    declare what hints may ask of the pivot: a consumer's class becoming
    another (``{'VCPU': 'PCPU'}`` for pinned instances), and allocations
    added for classes the consumers use but never held (``{'SRIOV_NET_VF'}``).
    ``root_traits`` are added to the root, ``drop_root_traits`` removed
    from it; the root's other traits stay.

    ``keep`` names (short names) children the layout owns and leaves
    exactly as they are: not removed, their inventory, traits and
    allocations untouched (nova keeps a pGPU provider its driver no longer
    reports).  ``managed_classes`` are classes the layout manages beyond
    those its children carry: when the layout is one concern of a node
    (the hook), it owns the children nested_pivot created that carry only
    classes it manages, so a class it stopped offering is still its own.
    :meth:`flat` keeps the classes of the layout there.

    ``destinations`` sends the allocations of a class that leave the root
    to one child (short name), unless a hint says otherwise: nova's
    reshape sends the memory encryption contexts of the flat root, all SEV
    guests, to the ``amd_sev`` child, not to another model's.
    """

    children: tuple[Child, ...] = ()
    adopted: frozenset[str] = frozenset()
    managed_traits: frozenset[str] = frozenset()
    sharing: Mapping[str, str] = dataclasses.field(default_factory=dict)
    converts: Mapping[str, str] = dataclasses.field(default_factory=dict)
    heals: frozenset[str] = frozenset()
    root_traits: frozenset[str] = frozenset()
    drop_root_traits: frozenset[str] = frozenset()
    keep: frozenset[str] = frozenset()
    managed_classes: frozenset[str] = frozenset()
    destinations: Mapping[str, str] = dataclasses.field(
        default_factory=dict)

    def __post_init__(self) -> None:
        children = tuple(self.children)
        bad = [c for c in children if not isinstance(c, Child)]
        if bad:
            raise exception.InvalidLayout(
                reason=f'children must be Child objects, not {bad[0]!r}')
        _check_unique(children)
        object.__setattr__(self, 'children', _top_down(children))
        object.__setattr__(self, 'adopted', _names('adopted', self.adopted))
        object.__setattr__(self, 'managed_traits',
                           _names('managed_traits', self.managed_traits))
        object.__setattr__(self, 'sharing', _sharing(self))
        object.__setattr__(self, 'converts', _class_map('converts',
                                                        self.converts))
        object.__setattr__(self, 'heals', _classes('heals', self.heals))
        for field in ('root_traits', 'drop_root_traits'):
            object.__setattr__(self, field,
                               _traits(field, getattr(self, field)))
        object.__setattr__(self, 'keep', _names('keep', self.keep))
        object.__setattr__(self, 'managed_classes', _classes(
            'managed_classes', self.managed_classes))
        object.__setattr__(self, 'destinations', _destinations(self))
        listed = sorted(self.keep & {c.name for c in children})
        if listed:
            raise exception.InvalidLayout(
                reason=f'child {listed[0]} is both listed and kept as it is')

    def __add__(self, other: Layout) -> Layout:
        """Compose two layouts; same-named children are merged."""
        if not isinstance(other, Layout):
            return NotImplemented
        merged = {c.name: c for c in self.children}
        for child in other.children:
            mine = merged.get(child.name)
            merged[child.name] = mine.merged(child) if mine else child
        return Layout(
            tuple(merged.values()),
            adopted=self.adopted | other.adopted,
            managed_traits=self.managed_traits | other.managed_traits,
            sharing=_union('sharing', self.sharing, other.sharing),
            converts=_union('converts', self.converts, other.converts),
            heals=self.heals | other.heals,
            root_traits=self.root_traits | other.root_traits,
            drop_root_traits=self.drop_root_traits | other.drop_root_traits,
            keep=self.keep | other.keep,
            managed_classes=self.managed_classes | other.managed_classes,
            destinations=_union('destinations', self.destinations,
                                other.destinations))

    @property
    def is_flat(self) -> bool:
        return not self.children

    @property
    def names(self) -> frozenset[str]:
        """Short names of every child the layout owns by name (former
        names included)."""
        return (frozenset(c.name for c in self.children) | self.adopted
                | self.keep
                | frozenset(n for c in self.children for n in c.former))

    @property
    def child_classes(self) -> frozenset[str]:
        """Every class some child carries."""
        return frozenset(rc for c in self.children for rc in c.inventory)

    @property
    def resource_classes(self) -> frozenset[str]:
        """Every class that leaves the root: to a child, or to a sharing
        provider."""
        return self.child_classes | frozenset(self.sharing)

    @property
    def classes(self) -> frozenset[str]:
        """Every class the layout manages: those that leave the root and
        ``managed_classes``."""
        return self.resource_classes | self.managed_classes

    def manages_trait(self, trait: str) -> bool:
        return any(fnmatch.fnmatchcase(trait, pattern)
                   for pattern in self.managed_traits)

    def flat(self) -> Layout:
        """The flat form of this layout: no children, and every child it
        owns by name removed; the root's traits as before the layout."""
        return Layout((), adopted=self.names - self.keep,
                      managed_traits=self.managed_traits,
                      root_traits=self.drop_root_traits,
                      drop_root_traits=self.root_traits, keep=self.keep,
                      managed_classes=self.classes)

    def flat_inventory(self, classes: Collection[str] | None = None
                       ) -> dict[str, Inventory]:
        """The flat root equivalent of the children's inventory (of
        ``classes`` only, when given)."""
        by_rc: dict[str, list[Inventory]] = {}
        for child in self.children:
            for rc, inv in child.inventory.items():
                if classes is None or rc in classes:
                    by_rc.setdefault(rc, []).append(inv)
        return {rc: merge_inventories(f'layout {rc}', recs)
                for rc, recs in sorted(by_rc.items())}


def compose(*layouts: Layout) -> Layout:
    """All the given layouts as one."""
    result = Layout()
    for layout in layouts:
        result = result + layout
    return result


FIELDS = _FIELDS
"""The fields of an inventory record, ``total`` first."""


def _unset_fields(inventory: object) -> dict[str, frozenset[str]]:
    """Per class, the fields a raw inventory leaves to the default rule:
    all but ``total`` for a bare total, the missing keys of a record; an
    :class:`Inventory` gives every field."""
    if not isinstance(inventory, Mapping):
        return {}
    unset = {}
    for rc, value in inventory.items():
        if _is_int(value):
            unset[rc] = frozenset(_FIELDS[1:])
        elif isinstance(value, Mapping):
            unset[rc] = frozenset(f for f in _FIELDS if f not in value)
    return unset


def _uuid(name: str, value: object) -> str:
    try:
        return str(uuidlib.UUID(str(value)))
    except ValueError:
        raise exception.InvalidLayout(
            reason=f'child {name}: uuid {value!r} is not a uuid') from None


def _classes(field: str, values: Collection[str]) -> frozenset[str]:
    found = _names(field, values)
    bad = sorted(rc for rc in found if not names.is_valid_resource_class(rc))
    if bad:
        raise exception.InvalidLayout(
            reason=f'{field}: unknown or malformed resource class '
                   f'{", ".join(bad)}')
    return found


def _traits(field: str, values: Collection[str]) -> frozenset[str]:
    found = _names(field, values)
    bad = sorted(t for t in found if not names.is_valid_trait(t))
    if bad:
        raise exception.InvalidLayout(
            reason=f'{field}: unknown or malformed traits {", ".join(bad)}')
    return found


def _class_map(field: str, values: Mapping[str, str]
               ) -> Mapping[str, str]:
    if not isinstance(values, Mapping):
        raise exception.InvalidLayout(
            reason=f'{field} must map a resource class to another, not '
                   f'{values!r}')
    _classes(field, [*values.keys(), *values.values()])
    same = sorted(k for k, v in values.items() if k == v)
    if same:
        raise exception.InvalidLayout(
            reason=f'{field}: {same[0]} cannot become itself')
    return types.MappingProxyType(dict(values))


def _sharing(layout: Layout) -> Mapping[str, str]:
    if not isinstance(layout.sharing, Mapping) or not all(
            isinstance(v, str) and v for v in layout.sharing.values()):
        raise exception.InvalidLayout(
            reason=f'sharing must map a resource class to a sharing '
                   f'provider\'s name or uuid, not {layout.sharing!r}')
    _classes('sharing', list(layout.sharing))
    both = sorted(set(layout.sharing) & layout.child_classes)
    if both:
        raise exception.InvalidLayout(
            reason=f'{both[0]} goes both to a child and to a sharing '
                   f'provider')
    return types.MappingProxyType(dict(layout.sharing))


def _destinations(layout: Layout) -> Mapping[str, str]:
    found = layout.destinations
    if not isinstance(found, Mapping):
        raise exception.InvalidLayout(
            reason=f'destinations must map a resource class to a child, '
                   f'not {found!r}')
    children = {c.name: c for c in layout.children}
    for rc, name in sorted(found.items()):
        child = children.get(name) if isinstance(name, str) else None
        if child is None or rc not in child.inventory:
            raise exception.InvalidLayout(
                reason=f'destinations: {rc} goes to {name!r}, which is no '
                       f'child of the layout offering {rc}')
    return types.MappingProxyType(dict(found))


def _union(field: str, mine: Mapping[str, str],
           theirs: Mapping[str, str]) -> dict[str, str]:
    clash = sorted(k for k in set(mine) & set(theirs)
                   if mine[k] != theirs[k])
    if clash:
        raise exception.InvalidLayout(
            reason=f'{field}: {clash[0]} goes to both {mine[clash[0]]} and '
                   f'{theirs[clash[0]]}')
    return {**mine, **theirs}


def _names(field: str, values: Collection[str]) -> frozenset[str]:
    if (isinstance(values, str) or not isinstance(values, Collection)
            or not all(isinstance(v, str) and v for v in values)):
        raise exception.InvalidLayout(
            reason=f'{field} must be a set of non-empty names, '
                   f'not {values!r}')
    return frozenset(values)


def _check_unique(children: Iterable[Child]) -> None:
    seen: set[str] = set()
    for child in children:
        if child.name in seen:
            raise exception.InvalidLayout(
                reason=f'duplicate child name {child.name!r}')
        seen.add(child.name)
    # A former name is one provider's: never another child's name, nor
    # the former name of two children.
    owner: dict[str, str] = {}
    for child in children:
        for old in sorted(child.former):
            if old in seen or old in owner:
                other = owner.get(old, old)
                raise exception.InvalidLayout(
                    reason=f'child {child.name}: former name {old!r} is '
                           f'also child {other}\'s name or former name')
            owner[old] = child.name


def _top_down(children: tuple[Child, ...]) -> tuple[Child, ...]:
    """Order children parents first, rejecting unknown parents and cycles."""
    by_name = {c.name: c for c in children}
    for child in children:
        if child.parent is not None and child.parent not in by_name:
            raise exception.InvalidLayout(
                reason=f'child {child.name}: parent {child.parent!r} is not '
                       'a child of this layout')
    ordered: list[Child] = []
    placed: set[str | None] = {None}
    while len(ordered) < len(children):
        ready = [c for c in children
                 if c.name not in placed and c.parent in placed]
        if not ready:
            stuck = sorted(c.name for c in children if c.name not in placed)
            raise exception.InvalidLayout(
                reason=f'children {", ".join(stuck)} form a parent cycle')
        ordered.extend(ready)
        placed.update(c.name for c in ready)
    return tuple(ordered)
