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

"""Sphinx configuration of nested_pivot's documentation (tox -e docs)."""

import importlib.metadata
import os
import socket
import sys

# The local extension: tables generated from the code (exit codes,
# exception codes).
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '_exts'))

# ``nested-pivot discover --hostname`` defaults to the name of the host it
# runs on: the reference shows a placeholder, not the name of the machine
# that built it.
socket.gethostname = lambda: '<hostname>'

extensions = [
    'sphinx.ext.autodoc',
    'sphinxarg.ext',
    'oslo_config.sphinxext',
    'oslo_config.sphinxconfiggen',
    'nested_pivot_docs',
]

project = 'nested_pivot'
copyright = 'nested_pivot developers'
master_doc = 'index'
exclude_patterns = ['_build']
pygments_style = 'native'
# Literal blocks without a language (the usage lines) are not Python.
highlight_language = 'none'
# Quotes and ellipses only: "--yes" stays two hyphens, not a dash.
smartquotes_action = 'qe'

# A theme that ships with Sphinx: the project has no public repository, bug
# tracker or site for a theme's header and links to point at.
html_theme = 'alabaster'
html_static_path = ['_static']
html_css_files = ['nested_pivot.css']

# The version pbr gives the package (setup.cfg's version, .devN until it
# is tagged), as ``nested-pivot --version`` says it.
release = importlib.metadata.version('nested_pivot')
version = '.'.join(release.split('.')[:2])

# autodoc: the public API, in source order.
autodoc_member_order = 'bysource'
autodoc_typehints = 'description'
# The page contents list methods as name(), not Class.name().
toc_object_entries_show_parents = 'hide'

# oslo_config.sphinxconfiggen: the sample file, written to
# _static/nested_pivot.conf.sample at each build.
config_generator_config_file = [
    ('../../etc/oslo-config-generator/nested_pivot.conf',
     '_static/nested_pivot'),
]
