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

"""Read the documentation's sources (README.md, doc/source/**/*.rst) the
way the tests need them, without Sphinx: code snippets, directives, and
the local Sphinx extension that generates tables from the code."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path
import re
import textwrap
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / 'doc' / 'source'
OPERATOR_GUIDE = 'doc/source/admin/operator-guide.rst'
DRIVER_GUIDE = 'doc/source/user/driver-guide.rst'
CLI_REFERENCE = 'doc/source/cli/nested-pivot.rst'
CONFIG_REFERENCE = 'doc/source/configuration/index.rst'
EXTENSION = SOURCE / '_exts' / 'nested_pivot_docs.py'

_DIRECTIVE = re.compile(r'^(?P<indent> *)\.\. (?P<name>[\w:.-]+)::'
                        r'(?: +(?P<argument>.*?))? *$')
_OPTION = re.compile(r'^ +:(?P<name>[\w-]+):(?: +(?P<value>.*?))? *$')


@dataclasses.dataclass
class Directive:
    """One ``.. name:: argument`` of a page, with its options and its
    content (dedented)."""

    name: str
    argument: str
    options: dict[str, str]
    content: str
    line: int


def read(doc: str) -> str:
    return (ROOT / doc).read_text()


def pages() -> list[str]:
    """Every page of the Sphinx site, as a path from the repository."""
    return sorted(str(p.relative_to(ROOT)) for p in SOURCE.rglob('*.rst'))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(' '))


def directives(doc: str, name: str | None = None) -> list[Directive]:
    """Every directive of a page (of one name, when given), in order."""
    lines = read(doc).splitlines()
    found = []
    for number, line in enumerate(lines):
        match = _DIRECTIVE.match(line)
        if not match or (name and match['name'] != name):
            continue
        indent = len(match['indent'])
        options: dict[str, str] = {}
        end = number + 1
        while end < len(lines) and (option := _OPTION.match(lines[end])):
            options[option['name']] = option['value'] or ''
            end += 1
        body = []
        while end < len(lines) and (not lines[end].strip()
                                    or _indent(lines[end]) > indent):
            body.append(lines[end])
            end += 1
        content = textwrap.dedent('\n'.join(body)).strip('\n')
        found.append(Directive(match['name'], match['argument'] or '',
                               options, content + '\n' if content else '',
                               number + 1))
    return found


def snippets(doc: str, language: str) -> list[str]:
    """The code snippets of one language: ```` ```language ```` fences of
    a Markdown file, ``.. code-block:: language`` of a reStructuredText
    one."""
    if doc.endswith('.md'):
        return re.findall(rf'```{language}\n(.*?)```', read(doc), re.DOTALL)
    return [d.content for d in directives(doc, 'code-block')
            if d.argument == language]


def section(doc: str, title: str) -> str:
    """The text of one section of a page: from its title to the next title
    of the same or a higher level."""
    lines = read(doc).splitlines()
    for number, line in enumerate(lines[:-1]):
        underline = lines[number + 1]
        if line == title and underline and set(underline) <= set('=-~^') \
                and len(underline) >= len(title):
            end = number + 2
            while end < len(lines) - 1 and not (
                    lines[end + 1] and lines[end + 1][0] in underline[0]
                    and set(lines[end + 1]) == {lines[end + 1][0]}
                    and len(lines[end + 1]) >= len(lines[end])
                    and lines[end].strip()):
                end += 1
            return '\n'.join(lines[number:end])
    raise AssertionError(f'{doc} has no section {title!r}')


def extension() -> ModuleType:
    """doc/source/_exts/nested_pivot_docs.py, the local Sphinx extension
    (its table builders need no Sphinx)."""
    spec = importlib.util.spec_from_file_location('nested_pivot_docs',
                                                  EXTENSION)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
