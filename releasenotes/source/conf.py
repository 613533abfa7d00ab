"""Sphinx configuration of the release notes (tox -e releasenotes): reno's
Sphinx extension renders releasenotes/notes/*.yaml from git history."""

extensions = [
    'openstackdocstheme',
    'reno.sphinxext',
]

project = 'nested_pivot Release Notes'
copyright = 'nested_pivot developers'
master_doc = 'index'
exclude_patterns = ['_build']
pygments_style = 'native'
# Quotes and ellipses only: "--yes" stays two hyphens, not a dash.
smartquotes_action = 'qe'

# openstackdocstheme
html_theme = 'openstackdocs'
openstackdocs_repo_name = 'openstack/nested_pivot'
openstackdocs_auto_name = False
openstackdocs_auto_version = False
openstackdocs_use_storyboard = False
