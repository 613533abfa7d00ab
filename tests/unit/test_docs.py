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

"""Guards of the documentation (doc/source, built by tox -e docs): every
configuration option, command-line flag, exit code, node state, exception
and public name has its place in it, and the generated references point
at the real objects.  They read the reStructuredText sources and need no
Sphinx; the build itself (warnings as errors) checks the rest."""

from __future__ import annotations

import argparse
import configparser
import importlib
import inspect
import re
from typing import Any

import pytest

import nested_pivot
from nested_pivot import conf
from nested_pivot import errors
from nested_pivot import exception
from nested_pivot import placement
from nested_pivot.cmd import codes
from nested_pivot.cmd import main
from nested_pivot.placement import NodeState
from tests import doc_sources
from tests.doc_sources import CLI_REFERENCE
from tests.doc_sources import CONFIG_REFERENCE
from tests.doc_sources import OPERATOR_GUIDE
from tests.doc_sources import ROOT

AUTODOC = ('autofunction', 'autoclass', 'autoexception', 'automodule',
           'autodata', 'automethod', 'autoattribute')

# Positional arguments that have no help text yet, so the command-line
# reference shows their name alone.  Their help belongs in
# nested_pivot/cmd/; when one gets it, take it off this list.
POSITIONALS_WITHOUT_HELP: set[tuple[str, str]] = set()


def _autodoc() -> list[doc_sources.Directive]:
    return [d for page in doc_sources.pages()
            for d in doc_sources.directives(page)
            if d.name in AUTODOC]


def _public() -> dict[str, Any]:
    """The public API by the name the reference documents it under."""
    names = {f'nested_pivot.{n}': getattr(nested_pivot, n)
             for n in nested_pivot.__all__}
    names.update({f'nested_pivot.placement.{n}': getattr(placement, n)
                  for n in placement.__all__})
    names['nested_pivot.nova'] = importlib.import_module('nested_pivot.nova')
    names.update({f'nested_pivot.exception.{cls.__name__}': cls
                  for cls in doc_sources.extension().exception_classes()})
    return names


def _resolve(target: str) -> Any:
    """The object an autodoc directive names, as autodoc imports it."""
    parts = target.split('.')
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module('.'.join(parts[:split]))
        except ImportError:
            continue
        for attr in parts[split:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(target)


def _is_member(module: Any, obj: Any) -> bool:
    """Whether ``automodule :members:`` of ``module`` includes ``obj``."""
    name = getattr(obj, '__name__', None)
    if name in getattr(module, '__all__', ()):
        return True
    return getattr(obj, '__module__', None) == module.__name__


def _public_members(obj: Any) -> dict[str, Any]:
    """What autodoc's ``:members:`` documents of a class or module: public
    names defined there (a module's ``__all__`` when it has one)."""
    if inspect.ismodule(obj):
        names = getattr(obj, '__all__', None) or [
            n for n, v in vars(obj).items()
            if (inspect.isclass(v) or inspect.isfunction(v))
            and v.__module__ == obj.__name__]
        return {n: getattr(obj, n) for n in names if not n.startswith('_')}
    return {n: v for n, v in vars(obj).items()
            if not n.startswith('_')
            and (inspect.isfunction(v) or isinstance(
                v, (property, classmethod, staticmethod)))}


def _doc(member: Any) -> str | None:
    if isinstance(member, (classmethod, staticmethod)):
        member = member.__func__
    return member.__doc__


def test_every_public_name_has_an_autodoc_directive():
    """Fails when a public name (nested_pivot.__all__, the Placement
    client and its results, the nova-compute hook, an exception) has no
    autodoc directive under doc/source, so the Python API reference
    leaves it out."""
    documented: set[int] = set()
    for directive in _autodoc():
        obj = _resolve(directive.argument)
        documented.add(id(obj))
        if directive.name == 'automodule' and 'members' in directive.options:
            excluded = set(re.split(r'[\s,]+', directive.options.get(
                'exclude-members', '')))
            documented.update(
                id(member) for name, member in vars(obj).items()
                if _is_member(obj, member) and name not in excluded)
    missing = [name for name, obj in _public().items()
               if id(obj) not in documented]
    assert not missing, f'no autodoc directive documents {missing}'


def test_documented_classes_and_modules_show_every_member():
    """Fails when a documented class or module would show only part of
    its public members: its directive needs :members:, and :undoc-members:
    unless every member has a docstring (autodoc silently drops the
    others)."""
    problems = []
    for directive in _autodoc():
        obj = _resolve(directive.argument)
        if not (inspect.isclass(obj) or inspect.ismodule(obj)) \
                or obj is nested_pivot:
            continue
        where = f'{directive.argument} ({directive.line})'
        if 'members' not in directive.options:
            problems.append(f'{where}: no :members:')
        elif 'undoc-members' not in directive.options:
            problems += [f'{where}: {name} has no docstring'
                         for name, member in _public_members(obj).items()
                         if not _doc(member)]
    assert not problems


def test_every_autodoc_directive_names_a_real_object():
    """Fails when the reference still documents a name the code no longer
    has (the docs build would fail on it too, later)."""
    for directive in _autodoc():
        assert _resolve(directive.argument) is not None, directive


def test_every_exception_has_its_code_in_the_reference():
    """Fails when an exception has no error code of nested_pivot.errors,
    or the exceptions page stops generating their table from the code."""
    rows = doc_sources.extension().error_code_rows()
    classes = [cls for cls in vars(exception).values()
               if inspect.isclass(cls) and issubclass(cls, Exception)
               and cls.__module__ == exception.__name__]
    assert {name for name, _ in rows} == {cls.__name__ for cls in classes}
    values = {v for n, v in vars(errors).items() if n.isupper()}
    for name, code in rows:
        assert code in values, f'{name}.code {code!r} not in errors'
    assert doc_sources.directives('doc/source/reference/exceptions.rst',
                                  'nested-pivot-error-codes')


def test_every_option_is_in_the_configuration_reference():
    """Fails when an option has no help text (the configuration reference
    would list it with nothing to say), or when the reference stops
    generating its options from the nested_pivot namespace, the entry
    point that serves conf.list_opts()."""
    shown = doc_sources.directives(CONFIG_REFERENCE, 'show-options')
    namespaces = {n for d in shown
                  for n in (d.argument + '\n' + d.content).split()}
    assert 'nested_pivot' in namespaces
    setup = configparser.ConfigParser()
    setup.read(ROOT / 'setup.cfg')
    points = dict(line.split('=') for line in setup.get(
        'entry_points', 'oslo.config.opts').strip().splitlines())
    assert {k.strip(): v.strip() for k, v in points.items()} == {
        'nested_pivot': 'nested_pivot.conf:list_opts'}
    undocumented = [f'[{group.name}] {opt.dest}'
                    for group, opts in conf.list_opts() for opt in opts
                    if not (opt.help or '').strip()]
    assert not undocumented, f'options without help: {undocumented}'
    for group, _ in conf.list_opts():
        assert (group.help or '').strip(), f'[{group.name}] has no help'


def test_the_sample_configuration_comes_from_the_generator():
    """Fails when the documentation's sample file is no longer generated
    from the oslo-config-generator configuration of the nested_pivot
    namespace."""
    config = (doc_sources.SOURCE / 'conf.py').read_text()
    assert 'oslo_config.sphinxconfiggen' in config
    generator = configparser.ConfigParser()
    path = 'etc/oslo-config-generator/nested_pivot.conf'
    assert f"'../../{path}'" in config
    generator.read(ROOT / path)
    assert generator.get('DEFAULT', 'namespace') == 'nested_pivot'
    assert doc_sources.directives('doc/source/configuration/sample.rst',
                                  'literalinclude')


def _parsers() -> dict[str, argparse.ArgumentParser]:
    """The real parser and each command's, by command name ('' for the
    top level)."""
    top = main.parser()
    found = {'': top}
    for action in top._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.update(action.choices)
    return found


def test_the_cli_reference_is_generated_from_the_real_parser():
    """Fails when the command-line reference stops generating every
    command and flag from nested_pivot.cmd.main.parser (or names a parser
    that is not the command's)."""
    (directive,) = doc_sources.directives(CLI_REFERENCE, 'argparse')
    module = importlib.import_module(directive.options['module'])
    assert module is main
    assert getattr(module, directive.options['func']) is main.parser
    assert directive.options.get('prog') == 'nested-pivot'
    for hides in ('path', 'nosubcommands', 'nodescription'):
        assert hides not in directive.options, f':{hides}: hides commands'
    commands = set(_parsers()) - {''}
    assert commands == {m.__name__.rsplit('.', 1)[1] for m in main.COMMANDS}


def test_every_flag_and_command_has_help():
    """Fails when a command, an option or a positional argument has no
    help text: the command-line reference would show its name alone."""
    missing = set()
    top = main.parser()
    for action in top._actions:
        if isinstance(action, argparse._SubParsersAction):
            missing |= {('', a.dest) for a in action._choices_actions
                        if not a.help}
    for command, parser in _parsers().items():
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                missing.add((command, action.dest))
    flags = {m for m in missing if m not in POSITIONALS_WITHOUT_HELP}
    assert not flags, f'no help: {sorted(flags)}'
    assert missing == POSITIONALS_WITHOUT_HELP, (
        'POSITIONALS_WITHOUT_HELP is out of date', sorted(missing))


def test_exit_codes_are_generated_where_they_are_listed():
    """Fails when an exit code is added, removed or reworded and the
    table the docs generate no longer matches nested_pivot.cmd.codes, or
    when the command-line reference or the operator guide stops including
    that table."""
    rows = doc_sources.extension().exit_code_rows()
    assert rows == [(str(int(c)), codes.MEANING[c]) for c in codes.Code]
    assert doc_sources.directives(CLI_REFERENCE, 'nested-pivot-exit-codes')
    exits = doc_sources.section(OPERATOR_GUIDE, 'Exit codes')
    assert '.. nested-pivot-exit-codes::' in exits


def test_the_operator_guide_explains_every_node_state():
    """Fails when a node state is added or renamed and the operator
    guide's table of states (under "Does this concern me?") is not."""
    text = doc_sources.section(OPERATOR_GUIDE, 'Does this concern me?')
    rows = re.findall(r'^   ``(\w+)`` \|', text, re.MULTILINE)
    assert rows == [state.value for state in NodeState]


@pytest.mark.parametrize('doc', [OPERATOR_GUIDE, doc_sources.DRIVER_GUIDE])
def test_the_commands_and_flags_a_guide_names_exist(doc):
    """Fails when a guide names a nested-pivot command or flag that the
    parser does not have (renamed or removed in the code)."""
    parsers = _parsers()
    flags = {s for p in parsers.values() for a in p._actions
             for s in a.option_strings}
    text = doc_sources.read(doc)
    named = set(re.findall(r'(?<![\w-])(--[a-z][a-z-]*[a-z])', text))
    assert not named - flags, f'{doc}: no such flag {named - flags}'
    commands = set(re.findall(r'(?:``|^ +)nested-pivot ([a-z]+)', text,
                              re.MULTILINE))
    assert commands, f'{doc} names no command'
    assert not commands - set(parsers), commands - set(parsers)


def test_the_readme_links_to_the_built_docs():
    """Fails when the README stops saying how to build the documentation
    and where it lands, or names a page that does not exist."""
    readme = doc_sources.read('README.md')
    assert readme.startswith('# nested_pivot')
    top = readme[:readme.index('\n## ', readme.index('## Two commands') + 1)]
    assert 'tools/demo' in top and 'tools/run-tests' in top
    assert 'tox -e docs' in readme and 'doc/build/html/index.html' in readme
    for path in re.findall(r'\((doc/[^)\s]+)\)', readme):
        assert (ROOT / path.split('#')[0]).exists(), path
    assert not re.search(r'doc/[\w-]+\.md', readme)
