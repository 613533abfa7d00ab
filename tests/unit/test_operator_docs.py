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

"""What ships beside the code says what the code does: the sample
configuration is the generator's, the docs link nowhere the project is
not, one version everywhere, and the operator guide shows every command's
JSON document."""

from __future__ import annotations

import ast
import configparser
import importlib.metadata
import importlib.util
import io
import re

from oslo_config import cfg
from oslo_config import generator
import yaml

from nested_pivot.cmd import document
from nested_pivot.cmd import main
from tests import doc_sources
from tests.doc_sources import OPERATOR_GUIDE
from tests.doc_sources import ROOT

SAMPLE = ROOT / 'etc' / 'nested_pivot' / 'nested_pivot.conf.sample'
GENERATOR = ROOT / 'etc' / 'oslo-config-generator' / 'nested_pivot.conf'
SPHINX_THEMES = ('alabaster', 'classic', 'sphinxdoc', 'scrolls', 'agogo',
                 'traditional', 'nature', 'haiku', 'pyramid', 'bizstyle')
"""The themes that ship with Sphinx."""
NOWHERE = ('opendev.org', 'launchpad.net', 'storyboard',
           'openstack/nested_pivot', 'openstackdocs')
"""Homes the project does not have."""


def test_the_shipped_sample_config_is_the_generators():
    """Fails when an option is added, removed or reworded and
    etc/nested_pivot/nested_pivot.conf.sample is not regenerated
    (tox -e genconfig)."""
    conf = cfg.ConfigOpts()
    generator.register_cli_opts(conf)
    conf(['--config-file', str(GENERATOR)])
    out = io.StringIO()
    generator.generate(conf, output_file=out)
    assert SAMPLE.read_text() == out.getvalue()


def _assignments(path: str) -> dict[str, ast.expr]:
    tree = ast.parse((ROOT / path).read_text())
    return {target.id: node.value for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)}


def test_the_docs_point_at_no_home_the_project_does_not_have():
    """Fails when the docs or the release notes use a theme that links
    to a repository, bug tracker or site header that is not the
    project's (openstackdocstheme's opendev.org, Launchpad,
    docs.openstack.org)."""
    for conf in ('doc/source/conf.py', 'releasenotes/source/conf.py'):
        values = _assignments(conf)
        theme = values['html_theme']
        assert isinstance(theme, ast.Constant)
        assert theme.value in SPHINX_THEMES, conf
        assert not [n for n in values if n.startswith('openstackdocs')]
        extensions = ast.literal_eval(values['extensions'])
        assert 'openstackdocstheme' not in extensions, conf
    sources = [*(ROOT / 'doc').rglob('*.*'),
               *(ROOT / 'releasenotes' / 'source').rglob('*.*')]
    for path in sources:
        if 'build' in path.relative_to(ROOT).parts or not path.is_file():
            continue
        text = path.read_text(errors='replace')
        assert not [w for w in NOWHERE if w in text], path


def _version() -> str:
    setup = configparser.ConfigParser()
    setup.read(ROOT / 'setup.cfg')
    return setup.get('metadata', 'version')


def test_one_version_story():
    """Fails when the package's version, the release notes' heading and
    the guide disagree: setup.cfg says the release being made, pbr makes
    it X.Y.Z.devN, the release notes' unreleased notes are under it, the
    docs show the package's version, and no page names another (an
    earlier development version is not a release)."""
    version = _version()
    assert re.fullmatch(r'\d+\.\d+\.\d+', version)
    installed = importlib.metadata.version('nested_pivot')
    assert installed == version or installed.startswith(version + '.dev')
    reno = yaml.safe_load((ROOT / 'releasenotes/config.yaml').read_text())
    assert reno['unreleased_version_title'] == f'{version} (unreleased)'
    # Without a tag reno says 0.0.0: the notes' conf.py retitles it.
    spec = importlib.util.spec_from_file_location(
        'releasenotes_conf', ROOT / 'releasenotes/source/conf.py')
    assert spec is not None and spec.loader is not None
    notes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(notes)
    assert notes.UNTAGGED == '0.0.0'
    assert notes.unreleased_title() == f'{version} (unreleased)'
    release = _assignments('doc/source/conf.py')['release']
    assert ast.unparse(release) == \
        "importlib.metadata.version('nested_pivot')"
    for doc in doc_sources.pages():
        named = re.findall(r'nested_pivot (\d+\.\d+(?:\.\d+)?)',
                           doc_sources.read(doc))
        assert all(n == version for n in named), (doc, named)


def test_the_guide_shows_every_commands_json_document():
    """Fails when a command has no documented --json shape, or the
    operator guide does not show them (generated from
    nested_pivot.cmd.document)."""
    commands = {m.__name__.rsplit('.', 1)[1] for m in main.COMMANDS}
    assert commands == set(document.SHAPES)
    section = doc_sources.section(OPERATOR_GUIDE, 'JSON output')
    assert '\n.. nested-pivot-json::\n' in section
    table = '\n'.join(doc_sources.extension().json_table())
    for command, shape in document.SHAPES.items():
        assert f'``{command}``' in table
        for key in (*document.ENVELOPE, *shape.top, *shape.node):
            assert f'``{key}``' in table
