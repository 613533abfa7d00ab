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

"""What Placement's answers to nested_pivot's reads look like.

A 2xx answer to a GET is checked against the shape of what Placement
sends for that URL before anyone reads it, so that an HTML page from a
misconfigured proxy, or JSON without the expected fields, is one
:class:`~nested_pivot.exception.MalformedAnswer` that names the request
and what is wrong, not a ``TypeError`` halfway through a pivot.

A shape is a Python type (``str``, ``int``), a tuple of them, a list of
one shape (every item has it), a dict of field names to shapes (each field
required; others allowed), or :class:`Each` (a mapping whose every value
has the shape).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any


@dataclasses.dataclass(frozen=True)
class Each:
    """A mapping of any keys (strings) whose every value has ``shape``."""

    shape: Any


_UUID = str
_PROVIDER = {'uuid': _UUID, 'name': str, 'generation': int,
             'root_provider_uuid': _UUID,
             'parent_provider_uuid': (str, type(None))}
_RECORD = {'total': int, 'reserved': int, 'min_unit': int, 'max_unit': int,
           'step_size': int, 'allocation_ratio': (int, float)}
_RESOURCES = {'resources': Each(int)}

SHAPES: tuple[tuple[re.Pattern[str], Any], ...] = (
    (re.compile(r'^/resource_providers/?(\?.*)?$'),
     {'resource_providers': [_PROVIDER]}),
    (re.compile(r'^/resource_providers/[^/?]+$'), _PROVIDER),
    (re.compile(r'^/resource_providers/[^/?]+/inventories$'),
     {'inventories': Each(_RECORD), 'resource_provider_generation': int}),
    (re.compile(r'^/resource_providers/[^/?]+/traits$'),
     {'traits': [str], 'resource_provider_generation': int}),
    (re.compile(r'^/resource_providers/[^/?]+/allocations$'),
     {'allocations': Each(_RESOURCES)}),
    (re.compile(r'^/allocations/[^/?]+$'),
     {'allocations': Each(_RESOURCES)}),
    (re.compile(r'^/resource_classes$'), {'resource_classes': [dict]}),
)
"""The shape of each GET answer nested_pivot reads, by URL."""


def problem(url: str, body: Any) -> str | None:
    """What is wrong with ``body``, a 2xx answer to GET ``url``, or None
    when it has the shape Placement sends (or the URL is not known)."""
    shape = next((s for pattern, s in SHAPES if pattern.match(url)), None)
    if shape is None:
        return None
    if not isinstance(body, dict):
        return f'the body is not a JSON object but {describe(body)}'
    return _check(shape, body, '')


def _check(shape: Any, value: Any, where: str) -> str | None:
    if isinstance(shape, Each):
        if not isinstance(value, dict):
            return _wrong(where, 'an object', value)
        for key, item in value.items():
            found = _check(shape.shape, item, f'{where}.{key}')
            if found:
                return found
        return None
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return _wrong(where, 'an object', value)
        for field, inner in shape.items():
            if field not in value:
                return f'{_at(where)}has no "{field}"'
            found = _check(inner, value[field], f'{where}.{field}')
            if found:
                return found
        return None
    if isinstance(shape, list):
        if not isinstance(value, list):
            return _wrong(where, 'a list', value)
        for i, item in enumerate(value):
            found = _check(shape[0], item, f'{where}[{i}]')
            if found:
                return found
        return None
    kinds = shape if isinstance(shape, tuple) else (shape,)
    if isinstance(value, bool) or not isinstance(value, kinds):
        names = ' or '.join(_NAMES.get(k, k.__name__) for k in kinds)
        return _wrong(where, names, value)
    return None


_NAMES = {str: 'a string', int: 'an integer', float: 'a number',
          dict: 'an object', type(None): 'null'}


def _wrong(where: str, expected: str, value: Any) -> str:
    return f'{_at(where)}is {describe(value)}, not {expected}'


def _at(where: str) -> str:
    return f'"{where.lstrip(".")}" ' if where else 'the body '


def describe(value: Any) -> str:
    """A short description of what came instead."""
    if isinstance(value, str):
        text = ' '.join(value.split())
        kind = 'an HTML page' if text[:15].lower().startswith(
            ('<!doctype', '<html')) else 'text'
        return f'{kind} ({text[:80]!r}{"..." if len(text) > 80 else ""})'
    if value is None:
        return 'empty'
    text = repr(value)
    more = '...' if len(text) > 80 else ''
    return f'{type(value).__name__} {text[:80]}{more}'
