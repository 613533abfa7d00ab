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

"""Typed hints: what a driver says of one consumer beyond where it is.

A hint is one of five types; a consumer may have several::

    Place('cell0')                        # every moving class to cell0
    Place('cell1', 'VCPU')                # its VCPU to cell1
    Split('MEMORY_MB', {'cell0': 1024, 'cell1': 1024})
    Convert('VCPU', 'PCPU')               # its VCPU becomes PCPU
    Heal('SRIOV_NET_VF', 1)               # it uses a VF it never held
    Heal('SRIOV_NET_VF', {'pf0': 1})      # ... on pf0
    Correct('CUSTOM_PCI_X', {'0000:81:00.0': 2})  # holds exactly 2 there

Children are named by short name, full name or uuid.  The dict form the
layout file and nova's database give (``{consumer: child}``,
``{consumer: {rc: child | {child: amount}, 'convert': {...}, 'heal':
{...}, 'correct': {...}}}``) is parsed here, by :func:`parse`, the one
parser of both forms; :func:`as_dict` writes typed hints in the dict
form.  What a hint means on a node (does the child exist, offer the
class, do the amounts add up) is the engine's to check, where the node
is known.
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
from typing import Any

from nested_pivot import exception
from nested_pivot import names

CONVERT = 'convert'
HEAL = 'heal'
CORRECT = 'correct'
RESERVED = (CONVERT, HEAL, CORRECT)
"""The dict form's keys that are not resource classes."""


@dataclasses.dataclass(frozen=True)
class Place:
    """Every moving class of the consumer (``resource_class`` None), or
    one class, to ``child``."""

    child: str
    resource_class: str | None = None


@dataclasses.dataclass(frozen=True)
class Split:
    """One class spread over several children, an amount each (for a
    class the layout heals, more than the consumer holds: the surplus is
    healed there)."""

    resource_class: str
    amounts: Mapping[str, int]


@dataclasses.dataclass(frozen=True)
class Convert:
    """What the consumer holds of ``resource_class`` becomes ``to``,
    amount for amount, before anything is placed."""

    resource_class: str
    to: str


@dataclasses.dataclass(frozen=True)
class Heal:
    """An allocation the consumer uses but never held: ``amount`` of the
    class, placed like a move, or ``{child: amount}``."""

    resource_class: str
    amount: int | Mapping[str, int]


@dataclasses.dataclass(frozen=True)
class Correct:
    """Exactly how much of the class the consumer holds on each named
    provider: the missing part is healed there, an excess removed."""

    resource_class: str
    amounts: Mapping[str, int]


Hint = Place | Split | Convert | Heal | Correct
HINT_TYPES = (Place, Split, Convert, Heal, Correct)

HintsLike = Mapping[str, Any]
"""Hints by consumer: each a :data:`Hint`, a sequence of them, or the
dict form."""


def parse(hints: HintsLike | None) -> dict[str, tuple[Hint, ...]]:
    """Each consumer's hints, typed; the dict form parsed.

    :raises InvalidHint: naming the consumer and what is malformed.
    """
    if hints is None:
        return {}
    if not isinstance(hints, Mapping):
        raise exception.InvalidHint(consumer='*',
                                    reason='hints must be a mapping')
    return {consumer: _one(consumer, value)
            for consumer, value in hints.items()}


def _one(consumer: str, value: Any) -> tuple[Hint, ...]:
    if isinstance(value, HINT_TYPES):
        return (value,)
    if isinstance(value, str):
        return (Place(value),)
    if isinstance(value, Mapping):
        return _dict_form(consumer, value)
    if isinstance(value, (list, tuple)) and all(
            isinstance(h, HINT_TYPES) for h in value):
        return tuple(value)
    raise exception.InvalidHint(
        consumer=consumer,
        reason=f'expected a child or a mapping, not {value!r}')


def _dict_form(consumer: str, value: Mapping[str, Any]) -> tuple[Hint, ...]:
    found: list[Hint] = []
    for rc, where in value.items():
        if rc in RESERVED:
            continue
        if isinstance(where, str):
            found.append(Place(where, rc))
        elif isinstance(where, Mapping) and where:
            found.append(Split(rc, dict(where)))
        else:
            raise exception.InvalidHint(
                consumer=consumer,
                reason=f'{rc}: expected a child or {{child: amount}}')
    if CONVERT in value:
        found += [Convert(rc, to) for rc, to in
                  _class_map(consumer, value[CONVERT]).items()]
    if HEAL in value:
        found += [Heal(rc, amount) for rc, amount in
                  _heal_spec(consumer, value[HEAL]).items()]
    if CORRECT in value:
        found += [Correct(rc, amounts) for rc, amounts in
                  _correct_spec(consumer, value[CORRECT]).items()]
    return tuple(found)


@dataclasses.dataclass(frozen=True)
class Grouped:
    """One consumer's hints by kind, as the engine takes them:
    ``placement`` (``None`` when none is given) is a child for every
    class or ``{rc: child | {child: amount}}``; the others are by class."""

    placement: str | dict[str, Any] | None
    converts: dict[str, str]
    heals: dict[str, Any]
    corrects: dict[str, dict[str, int]]


def group(consumer: str, typed: tuple[Hint, ...]) -> Grouped:
    """``typed`` (one consumer's :func:`parse` result) by kind.

    :raises InvalidHint: two hints for one class of one kind, or a
        placement of every class beside another hint.
    """
    whole = [h for h in typed if isinstance(h, Place)
             and h.resource_class is None]
    if whole and len(typed) > 1:
        raise exception.InvalidHint(
            consumer=consumer,
            reason=f'a placement of every class on {whole[0].child} '
                   f'goes with no other hint')
    kinds: dict[type, dict[str, Any]] = {
        Place: {}, Convert: {}, Heal: {}, Correct: {}}
    for h in typed:
        into = kinds[Place if isinstance(h, Split) else type(h)]
        _put(consumer, into, h.resource_class or '', _value(h))
    others = kinds[Convert] or kinds[Heal] or kinds[Correct]
    placement: str | dict[str, Any] | None = (
        whole[0].child if whole else
        kinds[Place] if kinds[Place] or not others else None)
    return Grouped(placement, kinds[Convert], kinds[Heal], kinds[Correct])


def as_dict(hints: HintsLike | None) -> dict[str, Any]:
    """The dict form of ``hints`` (typed or not), as a layout file
    writes it: ``{consumer: child}`` for one whole placement, else
    ``{consumer: {rc: ..., 'convert': ..., 'heal': ..., 'correct': ...}}``.
    """
    return {consumer: _as_dict(group(consumer, typed))
            for consumer, typed in parse(hints).items()}


def _as_dict(grouped: Grouped) -> Any:
    if isinstance(grouped.placement, str):
        return grouped.placement
    found: dict[str, Any] = dict(grouped.placement or {})
    for key, value in ((CONVERT, grouped.converts), (HEAL, grouped.heals),
                       (CORRECT, grouped.corrects)):
        if value:
            found[key] = value
    return found


def _value(h: Hint) -> Any:
    """What ``h`` says of its class, in the dict form."""
    if isinstance(h, Place):
        return h.child
    if isinstance(h, Convert):
        return h.to
    if isinstance(h, Heal):
        return dict(h.amount) if isinstance(h.amount, Mapping) \
            else h.amount
    return dict(h.amounts)


def _put(consumer: str, into: dict[str, Any], key: str, value: Any) -> None:
    if key in into:
        raise exception.InvalidHint(
            consumer=consumer, reason=f'{key}: two hints for one class')
    into[key] = value


def _class_map(consumer: str, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping) or not value or not all(
            names.is_valid_resource_class(k)
            and names.is_valid_resource_class(v) and k != v
            for k, v in value.items()):
        raise exception.InvalidHint(
            consumer=consumer,
            reason=f'convert: expected {{class: other class}}, not '
                   f'{value!r}')
    return dict(value)


def _heal_spec(consumer: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not value or not all(
            names.is_valid_resource_class(k) for k in value):
        raise exception.InvalidHint(
            consumer=consumer,
            reason=f'heal: expected {{class: amount}} or {{class: '
                   f'{{child: amount}}}}, not {value!r}')
    return dict(value)


def _correct_spec(consumer: str, value: Any
                  ) -> dict[str, dict[str, int]]:
    if not isinstance(value, Mapping) or not value or not all(
            names.is_valid_resource_class(rc) and isinstance(split, Mapping)
            and split and all(isinstance(ref, str) and _is_count(n)
                              for ref, n in split.items())
            for rc, split in value.items()):
        raise exception.InvalidHint(
            consumer=consumer,
            reason=f'correct: expected {{class: {{child: amount}}}} with '
                   f'amounts 0 or more, not {value!r}')
    return {rc: dict(split) for rc, split in value.items()}


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) \
        and value >= 0
