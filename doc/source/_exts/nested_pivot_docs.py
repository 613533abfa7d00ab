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

"""Tables of nested_pivot's documentation that come from its code.

``.. nested-pivot-exit-codes::`` renders the exit codes of the
``nested-pivot`` command from :mod:`nested_pivot.cmd.codes` (``Code`` and
``MEANING``, what ``--help`` shows), ``.. nested-pivot-error-codes::``
the ``code`` of every exception of :mod:`nested_pivot.exception`, and
``.. nested-pivot-json::`` the ``--json`` document of every command
(:mod:`nested_pivot.cmd.document`).  So the pages cannot drift from the
code.

The functions that build the tables need no Sphinx: the guard tests
(tests/unit/test_docs.py) call them.
"""

from __future__ import annotations

import inspect
from typing import Any


def exit_code_rows() -> list[tuple[str, str]]:
    """(code, meaning) for every exit code, in code order."""
    from nested_pivot.cmd import codes

    return [(str(int(code)), codes.MEANING[code]) for code in codes.Code]


def exception_classes() -> list[type[Exception]]:
    """Every exception class of :mod:`nested_pivot.exception`, in the
    order of the source."""
    from nested_pivot import exception

    found = [obj for _, obj in inspect.getmembers(exception, inspect.isclass)
             if issubclass(obj, exception.PivotError)
             and obj.__module__ == exception.__name__]
    return sorted(found, key=lambda cls: inspect.getsourcelines(cls)[1])


def error_code_rows() -> list[tuple[str, str]]:
    """(exception, code) per exception."""
    return [(cls.__name__, cls.code) for cls in exception_classes()]


def _literal(text: str) -> str:
    return f'``{text}``'


def list_table(header: tuple[str, ...], rows: list[tuple[str, ...]],
               widths: str = 'auto') -> list[str]:
    """The reStructuredText of a list-table."""
    lines = ['.. list-table::', '   :header-rows: 1',
             f'   :widths: {widths}', '']
    for row in [header, *rows]:
        for number, cell in enumerate(row):
            lines.append(f'   {"*" if number == 0 else " "} - {cell}')
    return lines


def exit_code_table() -> list[str]:
    return list_table(('code', 'meaning'),
                      [(_literal(code), meaning)
                       for code, meaning in exit_code_rows()],
                      widths='10 90')


def error_code_table() -> list[str]:
    rows = [(f':exc:`~nested_pivot.exception.{name}`', _literal(code))
            for name, code in error_code_rows()]
    return list_table(('exception', 'code'), rows, widths='35 65')


def json_rows(fields: dict[str, str]) -> list[tuple[str, str]]:
    return [(_literal(key), meaning) for key, meaning in fields.items()]


def json_table() -> list[str]:
    """The ``--json`` documents: the envelope, the error's keys, and per
    command the keys it adds and those of each entry of ``nodes``
    (:mod:`nested_pivot.cmd.document`)."""
    from nested_pivot.cmd import document

    lines = ['Every document:', '',
             *list_table(('key', 'meaning'),
                         json_rows(dict(document.ENVELOPE)), '25 75'),
             '', 'An error adds:', '',
             *list_table(('key', 'meaning'),
                         json_rows(dict(document.ERROR)), '25 75')]
    for command, shape in document.SHAPES.items():
        lines += ['', f'``{command}`` adds:' if shape.top
                  else f'``{command}`` adds no key.', '']
        if shape.top:
            lines += list_table(('key', 'meaning'),
                                json_rows(dict(shape.top)), '25 75')
        if shape.node:
            lines += ['', f'Each entry of ``nodes`` of ``{command}``:', '',
                      *list_table(('key', 'meaning'),
                                  json_rows(dict(shape.node)), '25 75')]
    return lines


def _drop_class_return_type(app: Any, doctree: Any) -> None:
    """autodoc's type hints give a class (its ``__init__``) the field
    "Return type: None": drop it."""
    from docutils import nodes
    from sphinx import addnodes

    for desc in doctree.findall(addnodes.desc):
        if desc.get('objtype') not in ('class', 'exception'):
            continue
        for content in desc.children:
            if not isinstance(content, addnodes.desc_content):
                continue
            for fields in content.children:
                if not isinstance(fields, nodes.field_list):
                    continue
                for field in list(fields.children):
                    if field[0].astext() == 'Return type':
                        fields.remove(field)


def setup(app: Any) -> dict[str, Any]:
    from docutils import nodes
    from docutils.statemachine import StringList
    from sphinx.util.docutils import SphinxDirective

    class _Generated(SphinxDirective):
        has_content = False
        lines: Any = None

        def run(self) -> list[nodes.Node]:
            node = nodes.container()
            source = f'<{self.name}>'
            content = StringList(type(self).lines(), source=source)
            self.state.nested_parse(content, self.content_offset, node)
            return node.children

    class ExitCodes(_Generated):
        lines = staticmethod(exit_code_table)

    class ErrorCodes(_Generated):
        lines = staticmethod(error_code_table)

    app.add_directive('nested-pivot-exit-codes', ExitCodes)
    class JsonDocuments(_Generated):
        lines = staticmethod(json_table)

    app.add_directive('nested-pivot-error-codes', ErrorCodes)
    app.add_directive('nested-pivot-json', JsonDocuments)
    app.connect('doctree-read', _drop_class_return_type)
    return {'parallel_read_safe': True, 'parallel_write_safe': True}
