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
it and what is wrong, and quote at most a few hundred characters of it.
A key given twice is an error, not "the last one wins"; ``children`` is
required (``children: []`` is the flat layout).

YAML is read as YAML 1.2 reads it, whatever YAML 1.1 says: a number is a
plain decimal (``1:30`` is text, not 90; ``010`` is text, not 8), only
``true`` and ``false`` are booleans, and dates are text.  Anchors,
aliases and the merge key ``<<`` work, but aliases may repeat at most
:data:`MAX_ALIASED` nodes in all (an "alias bomb" is refused).  Child
names are checked against what Placement's databases can store, and two
children whose names MariaDB would take for one are refused.  Hints that
can never apply (keyed by a node the rule cannot match, or naming the
root) are warnings (:attr:`Layouts.warnings`).

Rules are written by one serializer, :func:`as_document` (and
:func:`dump`, its YAML text), which whatever writes a layout file uses:
what it writes, this module reads back as the same rules.  Rules built
by a program rather than read (``discover --from-nova``) are checked as
a file's are by :func:`from_rules`.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
import dataclasses
import fnmatch
import json
import os
from pathlib import Path
import re
import reprlib
from typing import Any

import yaml

from nested_pivot import exception
from nested_pivot import names
from nested_pivot.layout import Child
from nested_pivot.layout import FIELDS
from nested_pivot.layout import Layout

SUFFIXES = ('.yaml', '.yml', '.json')


MAX_ALIASED = 10_000
"""How many nodes YAML aliases may repeat in one file, in all."""

MAX_QUOTED = exception.LayoutFileError.MAX_QUOTED
"""How much of a reason an error quotes, in characters."""

LayoutFileError = exception.LayoutFileError
"""Kept importable from here (it lives in :mod:`nested_pivot.exception`)."""


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 80
_REPR.maxlevel = 3


def _quote(value: Any) -> str:
    """A short repr of ``value``, however large it is."""
    return _REPR.repr(value)


@dataclasses.dataclass(frozen=True)
class Rule:
    """One entry of ``layouts``: nodes it matches, their layout, hints."""

    match: str
    layout: Layout
    hints: Mapping[str, Mapping[str, Any]]
    source: str
    listed: tuple[str, ...] = dataclasses.field(default=(), compare=False,
                                                repr=False)
    """The children's names in the order the rule lists them (a file's,
    or its producer's), which :func:`as_document` keeps; the layout holds
    them parents first.  Children it leaves out come after, in the
    layout's order."""

    @property
    def children(self) -> tuple[Child, ...]:
        """The layout's children, in the order the rule lists them."""
        by_name = {c.name: c for c in self.layout.children}
        first = [by_name.pop(n) for n in self.listed if n in by_name]
        return (*first, *by_name.values())

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
    warnings: tuple[str, ...] = ()
    """What in the rules can never apply: hints for a node the rule's
    glob cannot match, hints that name the root."""

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
    found = [r for f in _files(Path(path)) for r in _rules(f)]
    return Layouts(tuple(r for r, _ in found), source=str(path),
                   warnings=tuple(w for _, ws in found for w in ws))


def from_document(document: Any, source: str) -> Layouts:
    """The rules of a document already parsed (a mapping with a
    ``layouts`` list, as a file holds), checked as a file's are; errors
    name ``source``."""
    found = _document_rules(Path(source), document)
    return Layouts(tuple(r for r, _ in found), source=source,
                   warnings=tuple(w for _, ws in found for w in ws))


def from_rules(rules: Iterable[Rule], source: str) -> Layouts:
    """Rules a program built, checked as a file's are (child names that
    Placement's databases cannot store or would take for one, hints that
    can never apply); errors and warnings name ``source``."""
    path = Path(source)
    found = []
    for i, rule in enumerate(rules):
        where = f'layouts[{i}]'
        _check_names(_failing(path, where), list(rule.children))
        found.append((rule, _warnings(f'{path}: {where}', rule)))
    return Layouts(tuple(r for r, _ in found), source=source,
                   warnings=tuple(w for _, ws in found for w in ws))


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


def _rules(path: Path) -> list[tuple[Rule, list[str]]]:
    return _document_rules(path, _parse(path))


def _document_rules(path: Path, document: Any
                    ) -> list[tuple[Rule, list[str]]]:
    """Each rule, with its warnings."""
    if not isinstance(document, Mapping) or not isinstance(
            document.get('layouts'), list):
        raise LayoutFileError(file=str(path), where='top level',
                              reason='expected a mapping with a "layouts" '
                                     'list')
    found = []
    for i, entry in enumerate(document['layouts']):
        rule = _rule(path, f'layouts[{i}]', entry)
        found.append((rule, _warnings(f'{path}: layouts[{i}]', rule)))
    return found


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


_YAML11 = ('tag:yaml.org,2002:int', 'tag:yaml.org,2002:float',
           'tag:yaml.org,2002:bool', 'tag:yaml.org,2002:timestamp')
_MERGE = 'tag:yaml.org,2002:merge'


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, reading scalars as YAML 1.2 does (see the
    module's docstring), refusing keys given twice, and refusing aliases
    that repeat more than :data:`MAX_ALIASED` nodes."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers
                if tag not in _YAML11]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers
        .items()}

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliased = 0
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: yaml.Node | None,
                     index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            target = self.anchors.get(event.anchor)
            if target is not None:
                self._aliased += self._size(target)
                if self._aliased > MAX_ALIASED:
                    raise yaml.composer.ComposerError(
                        None, None,
                        f'aliases repeat more than {MAX_ALIASED} nodes '
                        f'(a YAML alias bomb?): write the values out, or '
                        f'use fewer aliases', event.start_mark)
        return super().compose_node(parent, index)

    def _size(self, node: yaml.Node, path: frozenset[int] = frozenset()
              ) -> int:
        """The nodes ``node`` stands for, aliases expanded."""
        key = id(node)
        if key in self._sizes:
            return self._sizes[key]
        if key in path:  # an alias of an anchor that holds it
            return 1
        inner = path | {key}
        if isinstance(node, yaml.SequenceNode):
            size = 1 + sum(self._size(n, inner) for n in node.value)
        elif isinstance(node, yaml.MappingNode):
            size = 1 + sum(self._size(k, inner) + self._size(v, inner)
                           for k, v in node.value)
        else:
            size = 1
        self._sizes[key] = size
        return size

    def construct_mapping(self, node: yaml.MappingNode,
                          deep: bool = False) -> dict[Any, Any]:
        # Keys given twice are refused among the mapping's own keys; the
        # merge key's entries may be overridden by them, as YAML says.
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                again = key in seen
            except TypeError:
                continue  # unhashable: the constructor below says so
            if again:
                raise yaml.constructor.ConstructorError(
                    None, None, f'key {_quote(key)} is given twice',
                    key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# Plain decimals only, as YAML 1.2: no sexagesimal (1:30), octal (010),
# hexadecimal, binary, underscores, .inf or .nan; ``1.0e308`` is a number
# (YAML 1.1 wants a sign in the exponent and would read text).
_Loader.add_implicit_resolver(
    'tag:yaml.org,2002:bool',
    re.compile(r'^(?:true|True|TRUE|false|False|FALSE)$'), list('tTfF'))
_Loader.add_implicit_resolver(
    'tag:yaml.org,2002:int', re.compile(r'^[-+]?(?:0|[1-9][0-9]*)$'),
    list('-+0123456789'))
_Loader.add_implicit_resolver(
    'tag:yaml.org,2002:float',
    re.compile(r'^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+(?=[eE]))'
               r'(?:[eE][-+]?[0-9]+)?$'),
    list('-+.0123456789'))


RULE_KEYS = ('match', 'children', 'hints', 'managed_traits', 'sharing',
             'converts', 'heals', 'root_traits', 'drop_root_traits', 'keep',
             'destinations')
"""What a rule may hold; the optional ones are :class:`Layout`'s
fields of the same names."""

_LISTS = ('managed_traits', 'heals', 'root_traits', 'drop_root_traits',
          'keep')
_MAPS = ('sharing', 'converts', 'destinations')


_Fail = Callable[[str, str], LayoutFileError]
"""The error at a path inside the rule (``.children[0].name``), with its
reason."""


def _failing(path: Path, where: str) -> _Fail:
    def fail(inner: str, reason: str) -> LayoutFileError:
        return LayoutFileError(file=str(path), where=where + inner,
                               reason=reason)
    return fail


def _rule(path: Path, where: str, entry: Any) -> Rule:
    fail = _failing(path, where)
    if not isinstance(entry, Mapping):
        raise fail('', 'expected a mapping with "match" and "children"')
    unknown = _unknown(entry, RULE_KEYS)
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
    _check_twins(fail, built)
    layout = _layout(fail, entry, tuple(built))
    hints = entry.get('hints') or {}
    if not isinstance(hints, Mapping) or not all(
            isinstance(v, Mapping) for v in hints.values()):
        raise fail('.hints', 'expected node -> consumer -> child')
    return Rule(entry['match'], layout, hints, str(path),
                listed=tuple(c.name for c in built))


def _unknown(mapping: Mapping[Any, Any], known: tuple[str, ...]
             ) -> list[str]:
    return sorted(_quote(k) if not isinstance(k, str) else k
                  for k in mapping if k not in known)


def _layout(fail: Any, entry: Mapping[str, Any],
            children: tuple[Child, ...]) -> Layout:
    fields: dict[str, Any] = {}
    for key in _LISTS:
        value = entry.get(key, [])
        if not isinstance(value, list):
            raise fail(f'.{key}', f'expected a list of {_what(key)}, not '
                                  f'{_quote(value)}')
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item:
                raise fail(f'.{key}[{i}]', f'expected one of the '
                                           f'{_what(key)}, not '
                                           f'{_quote(item)}')
        fields[key] = frozenset(value)
    for key in _MAPS:
        value = entry.get(key, {})
        if not isinstance(value, Mapping):
            raise fail(f'.{key}', 'expected a mapping of resource class '
                                  'to a name')
        for rc, name in value.items():
            if not isinstance(rc, str) or not isinstance(name, str):
                raise fail(f'.{key}', f'expected a resource class and a '
                                      f'name, not {_quote(rc)}: '
                                      f'{_quote(name)}')
        fields[key] = dict(value)
    try:
        return Layout(children, **fields)
    except exception.InvalidLayout as err:
        where = '.children' if 'child' in str(err) else ''
        raise fail(where, str(err.kwargs.get('reason', err))) from None


def _what(key: str) -> str:
    return 'trait patterns' if key == 'managed_traits' else 'names'


CHILD_KEYS = ('name', 'address', 'parent', 'inventory', 'traits',
              'former_names', 'uuid')
"""What a child may hold: ``address`` (a PCI address) names a PF's or a
pGPU's child (:func:`nested_pivot.names.pci_child_name`), ``former_names``
are names it had before, under which a provider is renamed in place."""


def _child(fail: Any, where: str, spec: Any) -> Child:
    if not isinstance(spec, Mapping):
        raise fail(where, 'expected a mapping with "name" and "inventory"')
    unknown = _unknown(spec, CHILD_KEYS)
    if unknown:
        raise fail(where, f'unknown keys {unknown}')
    try:
        name = _child_name(spec)
    except exception.InvalidLayout as err:
        raise fail(where, str(err.kwargs.get('reason', err))) from None
    if not isinstance(name, str) or not name.strip():
        raise fail(f'{where}.name', f'expected a non-empty name, not '
                                    f'{_quote(name)}')
    problem = names.child_name_problem(name)
    if problem:
        raise fail(f'{where}.name', f'{_quote(name)}: {problem}')
    for key, kinds in (('parent', str), ('uuid', str)):
        value = spec.get(key)
        if value is not None and not isinstance(value, kinds):
            raise fail(f'{where}.{key}', f'expected a {key}, not '
                                         f'{_quote(value)}')
    inventory = spec.get('inventory') or {}
    if not isinstance(inventory, Mapping):
        raise fail(f'{where}.inventory', f'expected a mapping of resource '
                                         f'class to record, not '
                                         f'{_quote(inventory)}')
    for rc in inventory:
        if not isinstance(rc, str):
            raise fail(f'{where}.inventory', f'expected a resource class, '
                                             f'not {_quote(rc)}')
    traits = _traits(fail, where, spec.get('traits'))
    try:
        return Child(name=name, parent=spec.get('parent'),
                     inventory=inventory, traits=traits,
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
    if not isinstance(value, list) or not all(isinstance(v, str)
                                              for v in value):
        raise exception.InvalidLayout(
            reason=f'former_names must be a list of names, not '
                   f'{_quote(value)}')
    return frozenset(value)


def _traits(fail: Any, where: str, value: Any) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list):
        raise fail(where, f'traits must be a list of names, not '
                          f'{_quote(value)}')
    for i, trait in enumerate(value):
        if not isinstance(trait, str):
            raise fail(f'{where}.traits[{i}]', f'expected a trait name, '
                                               f'not {_quote(trait)}')
    return frozenset(value)


def _check_names(fail: _Fail, children: list[Child]) -> None:
    """What :func:`_child` and :func:`_check_twins` check of the names of
    children already built."""
    for i, child in enumerate(children):
        problem = names.child_name_problem(child.name)
        if problem:
            raise fail(f'.children[{i}].name', f'{_quote(child.name)}: '
                                               f'{problem}')
    _check_twins(fail, children)


def _check_twins(fail: Any, children: list[Child]) -> None:
    """Two children whose names a database would take for one: their
    providers cannot both exist (Placement's names are unique)."""
    for i, child in enumerate(children):
        for other in children[:i]:
            if names.same_to_a_database(child.name, other.name):
                raise fail(f'.children[{i}].name',
                           f'{child.name!r} and {other.name!r} differ '
                           f'only in case, accents or trailing spaces: '
                           f'MariaDB takes them for one name; rename one')


def _warnings(where: str, rule: Rule) -> list[str]:
    """The rule's hints that can never apply, each named."""
    found = []
    for node, hints in rule.hints.items():
        at = f'{where}.hints.{_quote(node)}'
        if not isinstance(node, str) or not rule.matches(node):
            found.append(f'{at}: the rule matches {rule.match!r}, never '
                         f'node {_quote(node)}: these hints are never '
                         f'used (a typo in the node name?)')
            continue
        for consumer, hint in hints.items():
            if node in _refs(hint):
                found.append(
                    f'{at}.{_quote(consumer)}: names the root, {node}: '
                    f'hints place consumers on the node\'s children, and '
                    f'this one does nothing (name a child)')
    return found


def _refs(hint: Any) -> set[Any]:
    """The providers a hint names, in each of its forms."""
    if isinstance(hint, str):
        return {hint}
    found: set[Any] = set()
    if isinstance(hint, Mapping):
        for where in hint.values():
            if isinstance(where, str):
                found.add(where)
            elif isinstance(where, Mapping):
                found.update(k for k in where if isinstance(k, str))
    return found


# -- writing ----------------------------------------------------------------

WRITTEN = ('converts', 'heals', 'managed_traits', 'sharing', 'root_traits',
           'drop_root_traits', 'keep', 'destinations')
"""The fields of a :class:`Layout` a rule writes, in the order written,
after ``match`` and ``children`` and before ``hints``; an empty one is
left out."""

UNWRITTEN = ('adopted', 'managed_classes')
"""The fields of a :class:`Layout` a file cannot hold: a rollback and the
hook compute them."""

CLASS_ORDER = ('VCPU', 'PCPU', 'MEMORY_MB')
"""The classes a child's inventory writes first, in nova's order; the
others follow by name."""


def as_document(rules: Iterable[Rule]) -> dict[str, Any]:
    """The layout-file document of ``rules``, as :func:`load` reads it
    (:func:`dump` writes it as YAML)."""
    return {'layouts': [as_entry(rule) for rule in rules]}


def as_entry(rule: Rule) -> dict[str, Any]:
    """One rule as an entry of ``layouts``: its children in the order it
    lists them (:attr:`Rule.listed`), the layout's fields that are not
    empty, its hints in the dict form.

    :raises InvalidLayout: the layout has a field no file can hold
        (:data:`UNWRITTEN`).
    """
    layout = rule.layout
    unwritten = [f for f in UNWRITTEN if getattr(layout, f)]
    if unwritten:
        raise exception.InvalidLayout(
            reason=f'rule {rule.match}: a layout file cannot hold '
                   f'{" or ".join(unwritten)}')
    entry: dict[str, Any] = {
        'match': rule.match,
        'children': [as_child(c) for c in rule.children]}
    for field in WRITTEN:
        value = getattr(layout, field)
        if value:
            entry[field] = _plain(dict(sorted(value.items()))
                                  if isinstance(value, Mapping)
                                  else sorted(value))
    if rule.hints:
        entry['hints'] = _plain(rule.hints)
    return entry


def as_child(child: Child) -> dict[str, Any]:
    """One child as a rule lists it: each record with the fields the
    layout gave (those it left to the default rule stay out,
    :meth:`Child.given`)."""
    found: dict[str, Any] = {'name': child.name}
    if child.parent is not None:
        found['parent'] = child.parent
    found['inventory'] = {rc: _record(child, rc)
                          for rc in _classes(child.inventory)}
    if child.traits:
        found['traits'] = sorted(child.traits)
    if child.former:
        found['former_names'] = sorted(child.former)
    if child.uuid is not None:
        found['uuid'] = child.uuid
    return found


def dump(document: Mapping[str, Any]) -> str:
    """``document`` as YAML, keys in the order written, which
    :func:`load` reads back as it is."""
    return str(yaml.dump(_plain(document), Dumper=_Dumper, sort_keys=False))


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper, quoting the strings it would write plain but
    :class:`_Loader` (YAML 1.2) reads as something else: ``1e5`` is text
    to YAML 1.1 and a number to YAML 1.2."""

    def represent_str(self, data: str) -> yaml.ScalarNode:
        if _implicit_tag(data) != _STR:
            return self.represent_scalar(_STR, data, style="'")
        return super().represent_str(data)


_STR = 'tag:yaml.org,2002:str'
_Dumper.add_representer(str, _Dumper.represent_str)


def _implicit_tag(value: str) -> str:
    """The tag :class:`_Loader` gives ``value`` written plain."""
    resolvers = _Loader.yaml_implicit_resolvers
    for tag, regexp in [*resolvers.get(value[:1], []),
                        *resolvers.get(None, [])]:
        if regexp.match(value):
            return str(tag)
    return _STR


def _classes(inventory: Mapping[str, Any]) -> list[str]:
    return sorted(inventory, key=lambda rc: (
        CLASS_ORDER.index(rc) if rc in CLASS_ORDER else len(CLASS_ORDER),
        rc))


def _record(child: Child, rc: str) -> dict[str, int | float]:
    record = child.inventory[rc]
    return {f: getattr(record, f) for f in FIELDS
            if f == 'total' or child.given(rc, f)}


def _plain(value: Any) -> Any:
    """``value`` with mappings as dicts and sequences as lists, which
    YAML and JSON write."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
