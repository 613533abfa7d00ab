"""Sphinx configuration for the release notes (reno's sphinx extension)."""

project = 'nested_pivot Release Notes'
extensions = ['reno.sphinxext']
master_doc = 'index'
