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

"""Guards of the layering: the engine is a leaf, the command line holds no
Placement writes, and microversions are named in one place."""

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
                     'nested_pivot.layout', 'nested_pivot.microversion')


def imports(path: Path) -> set[str]:
    """Every nested_pivot module ``path`` imports, at any depth of the
    code: module level, in functions, under TYPE_CHECKING."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f'{node.module}.{a.name}' for a in node.names
                         if node.module == 'nested_pivot')
    return {m for m in found if m.startswith('nested_pivot')}


def test_the_engine_imports_nothing_above_it():
    """Fails when a module of the engine imports, even inside a function,
    a module of a layer above it (Placement, nova, the CLI, the journal,
    the layout file): the engine is pure, and data flows one way."""
    for path in (PACKAGE / 'engine').glob('*.py'):
        above = sorted(m for m in imports(path) if m != 'nested_pivot'
                       and not m.startswith(ENGINE_MAY_IMPORT))
        assert not above, (path.name, above)


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
