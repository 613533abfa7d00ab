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
