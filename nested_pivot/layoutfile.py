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

"""Layout files: which layout applies to which node, in YAML or JSON.

::

    layouts:
      - match: "compute-*"        # glob on the node name; first match wins
        children:
          - name: NUMA0
            inventory: {VCPU: {total: 32, allocation_ratio: 4.0}}
            traits: [HW_NUMA_ROOT]
          - address: "0000:3b:00.0"  # a PF, named pci_0000_3b_00_0
            parent: NUMA0
            inventory: {SRIOV_NET_VF: {total: 8}}
            former_names: [ens1f0]  # optional: renamed in place
        managed_traits: ["CUSTOM_PHYSNET_*"]  # optional: traits it manages
        converts: {VCPU: PCPU}    # optional: conversions hints may ask
        heals: [SRIOV_NET_VF]     # optional: classes hints may heal
        sharing: {DISK_GB: shared-storage}  # optional: to a sharing RP
        drop_root_traits: [HW_CPU_X86_AMD_SEV]  # optional; root_traits too
        hints:                    # optional: node -> consumer -> child
          compute-1: {"<consumer uuid>": NUMA0}

A path may be a file or a directory of ``*.yaml``, ``*.yml`` and ``*.json``
regular files, read in name order.  Errors name the file, the path inside
it and what is wrong.  A key given twice is an error, not "the last one
wins"; ``children`` is required (``children: []`` is the flat layout).
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
import fnmatch
import json
import os
from pathlib import Path
import re
from typing import Any

import yaml

from nested_pivot import exception
from nested_pivot import names
from nested_pivot.layout import Child
from nested_pivot.layout import Layout

SUFFIXES = ('.yaml', '.yml', '.json')


class LayoutFileError(exception.InvalidLayout):
    msg_fmt = '%(file)s: %(where)s: %(reason)s'


@dataclasses.dataclass(frozen=True)
class Rule:
    """One entry of ``layouts``: nodes it matches, their layout, hints."""

    match: str
    layout: Layout
    hints: Mapping[str, Mapping[str, Any]]
    source: str

    def matches(self, node: str) -> bool:
        return fnmatch.fnmatchcase(node, self.match)


@dataclasses.dataclass(frozen=True)
class Layouts:
    """Every rule, in the order read, from ``source`` (a path, or where
    else the rules came from).

    ``refused`` names nodes whose facts forbid a pivot, with the reason
    (e.g. nova's database contradicts Placement); ``unmatched`` says why a
    node has no rule, when something better than "no rule matches" is
    known.
    """

    rules: tuple[Rule, ...]
    source: str = 'the layout file'
    refused: Mapping[str, str] = dataclasses.field(default_factory=dict)
    unmatched: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def rule_for(self, node: str) -> Rule | None:
        """The first rule whose glob matches ``node``; none for a node
        that is refused."""
        if node in self.refused:
            return None
        return next((r for r in self.rules if r.matches(node)), None)

    def why_no_rule(self, node: str) -> str:
        """Why ``node`` has no rule: refused, or nothing matches it."""
        return (self.refused.get(node) or self.unmatched.get(node)
                or f'no rule in {self.source} matches node {node}')


def load(path: str | os.PathLike[str]) -> Layouts:
    """Read a layout file or a directory of them."""
    return Layouts(tuple(r for f in _files(Path(path)) for r in _rules(f)),
                   source=str(path))


def from_document(document: Any, source: str) -> Layouts:
    """The rules of a document already parsed (a mapping with a
    ``layouts`` list, as a file holds), checked as a file's are; errors
    name ``source``."""
    return Layouts(tuple(_document_rules(Path(source), document)),
                   source=source)


def _files(path: Path) -> list[Path]:
    # Only regular files: reading a FIFO named *.yaml would hang.
    if path.is_dir():
        files = sorted(p for p in path.iterdir()
                       if p.suffix in SUFFIXES and p.is_file())
        if not files:
            raise LayoutFileError(file=str(path), where='directory',
                                  reason='no *.yaml, *.yml or *.json files')
        return files
    if path.is_file():
        return [path]
    reason = ('not a regular file' if path.exists()
              else 'no such file or directory')
    raise LayoutFileError(file=str(path), where='path', reason=reason)


def _rules(path: Path) -> list[Rule]:
    return _document_rules(path, _parse(path))


def _document_rules(path: Path, document: Any) -> list[Rule]:
    if not isinstance(document, Mapping) or not isinstance(
            document.get('layouts'), list):
        raise LayoutFileError(file=str(path), where='top level',
                              reason='expected a mapping with a "layouts" '
                                     'list')
    return [_rule(path, f'layouts[{i}]', entry)
            for i, entry in enumerate(document['layouts'])]


def _parse(path: Path) -> Any:
    try:
        text = path.read_text(encoding='utf-8')
    except UnicodeDecodeError as err:
        raise LayoutFileError(file=str(path), where='encoding',
                              reason=f'not UTF-8 text ({err.reason} at '
                                     f'byte {err.start})') from None
    except OSError as err:
        raise LayoutFileError(file=str(path), where='path',
                              reason=err.strerror or str(err)) from None
    try:
        if path.suffix == '.json':
            return json.loads(text, object_pairs_hook=_unique_pairs)
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - safe loader
    except (ValueError, yaml.YAMLError) as err:
        raise LayoutFileError(file=str(path), where='syntax',
                              reason=str(err).replace('\n', ' ')) from None


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f'key {key!r} is given twice')
        result[key] = value
    return result


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing keys given twice, and reading
    ``1.0e308`` as the number YAML 1.2 says it is (YAML 1.1 wants a sign
    in the exponent and would read text)."""

    def construct_mapping(self, node: yaml.MappingNode,
                          deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f'key {key!r} is given twice',
                    key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    'tag:yaml.org,2002:float',
    re.compile(r'^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$'),
    list('-+0123456789'))


RULE_KEYS = ('match', 'children', 'hints', 'managed_traits', 'sharing',
             'converts', 'heals', 'root_traits', 'drop_root_traits', 'keep',
             'destinations')
"""What a rule may hold; the optional ones are :class:`Layout`'s
fields of the same names."""

_LISTS = ('managed_traits', 'heals', 'root_traits', 'drop_root_traits',
          'keep')
_MAPS = ('sharing', 'converts', 'destinations')


def _rule(path: Path, where: str, entry: Any) -> Rule:
    def fail(inner: str, reason: str) -> LayoutFileError:
        return LayoutFileError(file=str(path), where=where + inner,
                               reason=reason)

    if not isinstance(entry, Mapping):
        raise fail('', 'expected a mapping with "match" and "children"')
    unknown = sorted(set(entry) - set(RULE_KEYS))
    if unknown:
        raise fail('', f'unknown keys {unknown}')
    if not isinstance(entry.get('match'), str):
        raise fail('.match', 'expected a glob on the node name')
    if 'children' not in entry:
        raise fail('', 'no "children": list the children, or give '
                       '"children: []" for the flat layout')
    children = entry['children']
    if not isinstance(children, list):
        raise fail('.children', 'expected a list')
    built = [_child(fail, f'.children[{i}]', c)
             for i, c in enumerate(children)]
    layout = _layout(fail, entry, tuple(built))
    hints = entry.get('hints') or {}
    if not isinstance(hints, Mapping) or not all(
            isinstance(v, Mapping) for v in hints.values()):
        raise fail('.hints', 'expected node -> consumer -> child')
    return Rule(entry['match'], layout, hints, str(path))


def _layout(fail: Any, entry: Mapping[str, Any],
            children: tuple[Child, ...]) -> Layout:
    fields: dict[str, Any] = {}
    for key in _LISTS:
        value = entry.get(key, [])
        if not isinstance(value, list) or not all(
                isinstance(v, str) and v for v in value):
            what = ('trait patterns' if key == 'managed_traits'
                    else 'names')
            raise fail(f'.{key}', f'expected a list of {what}')
        fields[key] = frozenset(value)
    for key in _MAPS:
        value = entry.get(key, {})
        if not isinstance(value, Mapping):
            raise fail(f'.{key}', 'expected a mapping of resource class '
                                  'to a name')
        fields[key] = dict(value)
    try:
        return Layout(children, **fields)
    except exception.InvalidLayout as err:
        where = '.children' if 'child' in str(err) else ''
        raise fail(where, str(err.kwargs.get('reason', err))) from None


CHILD_KEYS = ('name', 'address', 'parent', 'inventory', 'traits',
              'former_names', 'uuid')
"""What a child may hold: ``address`` (a PCI address) names a PF's or a
pGPU's child (:func:`nested_pivot.names.pci_child_name`), ``former_names``
are names it had before, under which a provider is renamed in place."""


def _child(fail: Any, where: str, spec: Any) -> Child:
    if not isinstance(spec, Mapping):
        raise fail(where, 'expected a mapping with "name" and "inventory"')
    unknown = sorted(set(spec) - set(CHILD_KEYS))
    if unknown:
        raise fail(where, f'unknown keys {unknown}')
    try:
        return Child(name=_child_name(spec),
                     parent=spec.get('parent'),
                     inventory=spec.get('inventory') or {},
                     traits=_traits(spec.get('traits')),
                     uuid=spec.get('uuid'),
                     former=_former(spec.get('former_names')))
    except exception.InvalidLayout as err:
        raise fail(where, str(err.kwargs.get('reason', err))) from None


def _child_name(spec: Mapping[str, Any]) -> Any:
    """The child's name: ``name``, or the one its PCI ``address`` gives
    (which ``name``, when given too, must be)."""
    if 'address' not in spec:
        return spec.get('name', '')
    derived = names.pci_child_name(spec['address'])
    given = spec.get('name', derived)
    if given != derived:
        raise exception.InvalidLayout(
            reason=f'child {given}: address {spec["address"]} names it '
                   f'{derived}: give that name or none (and list {given} '
                   'in former_names to rename a provider made under it)')
    return derived


def _former(value: Any) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str) or not isinstance(value, list):
        raise exception.InvalidLayout(
            reason=f'former_names must be a list of names, not {value!r}')
    return frozenset(value)


def _traits(value: Any) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str) or not isinstance(value, list):
        raise exception.InvalidLayout(
            reason=f'traits must be a list of names, not {value!r}')
    return frozenset(value)
