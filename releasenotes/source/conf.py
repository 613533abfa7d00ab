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

"""Sphinx configuration of the release notes (tox -e releasenotes): reno's
Sphinx extension renders releasenotes/notes/*.yaml from git history."""

import os
from typing import Any

import yaml

extensions = [
    'reno.sphinxext',
]

project = 'nested_pivot Release Notes'
copyright = 'nested_pivot developers'
master_doc = 'index'
exclude_patterns = ['_build']
pygments_style = 'native'
# Quotes and ellipses only: "--yes" stays two hyphens, not a dash.
smartquotes_action = 'qe'

# A theme that ships with Sphinx: the project has no public repository, bug
# tracker or site for a theme's header and links to point at.
html_theme = 'alabaster'

# reno heads the notes of a repository without any tag "0.0.0" (and its
# unreleased_version_title applies only past a tag): they get the heading
# releasenotes/config.yaml gives, the version setup.cfg says is being made.
UNTAGGED = '0.0.0'
CONFIG = os.path.join(os.path.dirname(__file__), '..', 'config.yaml')


def unreleased_title() -> str:
    with open(CONFIG, encoding='utf-8') as stream:
        return str(yaml.safe_load(stream)['unreleased_version_title'])


def _title_untagged(app: Any, doctree: Any) -> None:
    from docutils import nodes

    for title in list(doctree.findall(nodes.title)):
        if title.astext() == UNTAGGED:
            title.replace(title.children[0], nodes.Text(unreleased_title()))


def setup(app: Any) -> None:
    app.connect('doctree-read', _title_untagged)
