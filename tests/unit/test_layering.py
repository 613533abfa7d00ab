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

"""Guards of the layering: the engine is a leaf, the Placement layer is
Placement I/O only, the command line reaches it through the service
layer and holds no Placement writes, and microversions are named in one
place.  The layers, top down: ``cmd -> service -> placement, novadb,
audit, journal, layoutfile -> engine``."""

from __future__ import annotations

import ast
from pathlib import Path
import re
import subprocess
import sys

PACKAGE = Path(__file__).resolve().parents[2] / 'nested_pivot'


def test_the_engine_loads_no_http_client():
    """Fails when importing the engine (or the top-level package) loads
    keystoneauth1: the engine must stay a leaf, usable and cheap to import
    where there is no Placement client (a virt driver's planning, tests).
    """
    code = ('import sys, nested_pivot, nested_pivot.engine, '
            'nested_pivot.layouts; '
            'print(sorted(m for m in sys.modules if m.startswith('
            '("keystoneauth1", "requests", "nested_pivot.placement"))))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == '[]'


ENGINE_MAY_IMPORT = ('nested_pivot.engine', 'nested_pivot.exception',
                     'nested_pivot.errors', 'nested_pivot.names',
                     'nested_pivot.hint',
                     'nested_pivot.layout', 'nested_pivot.microversion')


def imports(path: Path) -> set[str]:
    """Every nested_pivot module ``path`` imports, at any depth of the
    code: module level, in functions, under TYPE_CHECKING."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            # ``from nested_pivot.placement import read`` imports the
            # module nested_pivot.placement.read: each name counts too.
            found.add(node.module)
            found.update(f'{node.module}.{a.name}' for a in node.names)
    return {m for m in found if m.startswith('nested_pivot')}


def modules(package: str) -> list[Path]:
    return sorted((PACKAGE / package).glob('*.py'))


def importing(paths: list[Path], prefixes: tuple[str, ...]
              ) -> dict[str, list[str]]:
    """Of ``paths``, those importing a module under one of ``prefixes``,
    with what they import."""
    found = {}
    for path in paths:
        hits = sorted(m for m in imports(path)
                      if any(m == p or m.startswith(p + '.')
                             for p in prefixes))
        if hits:
            found[str(path.relative_to(PACKAGE))] = hits
    return found


def test_the_engine_imports_nothing_above_it():
    """Fails when a module of the engine imports, even inside a function,
    a module of a layer above it (Placement, nova, the CLI, the journal,
    the layout file): the engine is pure, and data flows one way."""
    for path in (PACKAGE / 'engine').glob('*.py'):
        above = sorted(m for m in imports(path) if m != 'nested_pivot'
                       and not m.startswith(ENGINE_MAY_IMPORT))
        assert not above, (path.name, above)


ABOVE_PLACEMENT = ('nested_pivot.service', 'nested_pivot.cmd',
                   'nested_pivot.audit', 'nested_pivot.nova',
                   'nested_pivot.novadb', 'nested_pivot.journal',
                   'nested_pivot.layoutfile', 'nested_pivot.discover',
                   'nested_pivot.conf.compute')


def test_the_placement_layer_imports_nothing_above_it():
    """Fails when a module of nested_pivot/placement imports, even inside
    a function, the application layer or what only it uses: the command
    line, the journal, the layout file, nova's database, the audit, the
    hook, or the hook's options.  The Placement layer is Placement I/O;
    what the operator's commands do with it lives in
    nested_pivot/service."""
    assert importing(modules('placement'), ABOVE_PLACEMENT) == {}


def test_only_the_command_line_calls_the_service_layer():
    """Fails when a module outside nested_pivot/cmd and nested_pivot/service
    imports nested_pivot.service: the application layer is the top of the
    library, and data flows one way, from the command line down."""
    outside = [p for p in sorted(PACKAGE.rglob('*.py'))
               if p.parent.name not in ('cmd', 'service')]
    assert importing(outside, ('nested_pivot.service',)) == {}


PLACEMENT_CLIENT = ('nested_pivot.placement', 'nested_pivot.placement.http',
                    'nested_pivot.placement.PlacementClient',
                    'nested_pivot.placement.http.PlacementClient')


def test_the_command_line_reaches_placement_through_the_service_layer():
    """Fails when a module of nested_pivot/cmd imports a module of the
    Placement layer (its reads, writes or operations) instead of going
    through nested_pivot.service; only the client type is named there,
    and access.py, which builds the client, also reaches the database
    and contract modules it builds it with."""
    found = importing(modules('cmd'), ('nested_pivot.placement',))
    builder = {'nested_pivot.placement.contract',
               'nested_pivot.placement.database',
               'nested_pivot.placement.database.PlacementDatabase'}
    past = {path: [m for m in hits if m not in PLACEMENT_CLIENT
                   and not (path == 'cmd/access.py' and m in builder)]
            for path, hits in found.items()}
    assert {p: h for p, h in past.items() if h} == {}


def test_the_command_line_writes_nothing_to_placement_itself():
    """Fails when a module of nested_pivot/cmd sends a request itself:
    writes belong to the Placement layer's operations."""
    for path in (PACKAGE / 'cmd').glob('*.py'):
        text = path.read_text()
        assert not re.search(r"\.request\(|'(PUT|POST|DELETE)'", text), path


def test_no_literal_microversions_outside_their_table():
    """Fails when a module names a microversion as a literal '1.x'
    instead of one of nested_pivot.microversion's named constants."""
    for path in PACKAGE.rglob('*.py'):
        if path.name == 'microversion.py':
            continue
        assert not re.search(r"""['"]1\.\d+['"]""", path.read_text()), path


def test_every_python_file_carries_the_licence_header():
    """Fails when a Python file is added without the Apache-2.0 header
    that OpenStack projects carry (setup.cfg and LICENSE say Apache-2.0).
    """
    top = PACKAGE.parent
    files = subprocess.run(['git', 'ls-files', '*.py'], cwd=top,
                           capture_output=True, text=True,
                           check=True).stdout.split()
    missing = [f for f in files if 'Licensed under the Apache License'
               not in (top / f).read_text()]
    assert files and not missing, missing


def test_exceptions_are_defined_in_the_exception_module():
    """Fails when a module other than nested_pivot/exception.py defines a
    public exception class: every error the library raises derives from
    PivotError there, with its own code in nested_pivot.errors (the
    exceptions reference lists them).  A private one (``_Name``) that
    never leaves its module is control flow, and may stay."""
    found = []
    for path in sorted(PACKAGE.rglob('*.py')):
        if path.name == 'exception.py' and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) \
                    and not node.name.startswith('_') \
                    and any(_names_exception(b) for b in node.bases):
                found.append(f'{path.relative_to(PACKAGE)}: {node.name}')
    assert found == []


def _names_exception(base: ast.expr) -> bool:
    """Is ``base`` an exception class: a builtin's or one of
    nested_pivot.exception's names?"""
    name = base.attr if isinstance(base, ast.Attribute) else getattr(
        base, 'id', '')
    ours = {n.name for n in ast.walk(ast.parse(
        (PACKAGE / 'exception.py').read_text()))
        if isinstance(n, ast.ClassDef)}
    return name.endswith(('Exception', 'Error')) or name in ours


def test_module_loggers_are_oslo_logs():
    """Fails when a module makes its ``LOG`` with the standard library's
    logging instead of oslo.log's, as OpenStack projects do (oslo.log
    adds the context and the instance to each record).  The command's
    handler set-up (cmd/logs.py, cmd/access.py) may use the standard
    library's handlers and filters, which oslo.log builds on."""
    found = []
    for path in sorted(PACKAGE.rglob('*.py')):
        text = path.read_text()
        if re.search(r'^LOG = ', text, re.M) and \
                'from oslo_log import log as logging' not in text:
            found.append(str(path.relative_to(PACKAGE)))
    assert found == []


def test_every_placement_call_names_its_microversion():
    """Fails when PlacementClient.request() or get() gets a default
    microversion again: a call that forgets it would silently speak the
    default, not the microversion whose answer its caller parses."""
    import inspect

    from nested_pivot.placement.http import PlacementClient

    for method in (PlacementClient.request, PlacementClient.get):
        version = inspect.signature(method).parameters['version']
        assert version.default is inspect.Parameter.empty, method


PRESENTATION = frozenset({'plural', '_plural', 'one_line', 'short_reason',
                          'reason'})
SAYERS = ('text.py', 'cmd/say.py')


def test_words_for_messages_are_defined_once():
    """Fails when a module other than nested_pivot/text.py (words every
    layer's messages use) or nested_pivot/cmd/say.py (what the command
    says of a status) defines a count or reason helper of its own: the
    Placement and service layers return values, and a count reads the
    same in every message."""
    found = sorted(
        f'{path.relative_to(PACKAGE)}:{node.name}'
        for path in PACKAGE.rglob('*.py')
        if str(path.relative_to(PACKAGE)) not in SAYERS
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef) and node.name in PRESENTATION)
    assert found == []


PRODUCERS = ('discover.py', 'novadb/build.py', 'cmd/discover.py')
"""The modules that write a layout document: ``discover`` from sysfs and
from nova's database, and the command that writes their files."""


def _document_keys() -> frozenset[str]:
    from nested_pivot import layoutfile
    return frozenset(('layouts', 'reserved', *layoutfile.RULE_KEYS,
                      *layoutfile.CHILD_KEYS))


def _built_by_hand(path: Path) -> list[str]:
    """What ``path`` does that only the builders and the writer may: a
    dict with a key of the layout document (a child's, a rule's, a
    record's ``reserved``), such a key assigned, a Child made, a document
    parsed back with ``from_document``, YAML written."""
    keys = _document_keys()
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        line = getattr(node, 'lineno', 0)
        if isinstance(node, ast.Dict):
            found += [f'{line}: key {k.value!r}' for k in node.keys
                      if isinstance(k, ast.Constant) and k.value in keys]
        elif (isinstance(node, ast.Subscript)
              and isinstance(node.ctx, ast.Store)
              and isinstance(node.slice, ast.Constant)
              and node.slice.value in keys):
            found.append(f'{line}: [{node.slice.value!r}] =')
        elif isinstance(node, ast.Call):
            called = node.func.attr if isinstance(node.func, ast.Attribute) \
                else getattr(node.func, 'id', '')
            if called in ('Child', 'from_document', 'safe_dump', 'dump') \
                    and not _calls_the_writer(node.func):
                found.append(f'{line}: {called}()')
    return found


def _calls_the_writer(func: ast.expr) -> bool:
    """``layoutfile.dump(...)``: the one writer of YAML documents."""
    return isinstance(func, ast.Attribute) and func.attr == 'dump' \
        and getattr(func.value, 'id', '') == 'layoutfile'


def test_layout_documents_are_built_one_way():
    """Fails when discover.py, novadb/build.py or cmd/discover.py builds
    the dicts of a layout document itself (a child's or a rule's keys, a
    record's reserved amount), makes a Child itself, parses its own
    document back through layoutfile.from_document, or writes YAML
    itself.  Every producer builds its children with nested_pivot.layouts
    (numa_children, sriov_children, pgpu_children; reserve puts the host's
    reserved amount on the first cell that holds it) and writes them with
    layoutfile.as_document and layoutfile.dump, so that the rules (names,
    where the reserved memory goes, which fields are written, key order,
    YAML 1.2 quoting) are written once and the document reads back as the
    layout built."""
    found = {name: hits for name in PRODUCERS
             if (hits := _built_by_hand(PACKAGE / name))}
    assert found == {}
