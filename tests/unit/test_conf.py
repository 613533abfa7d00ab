"""Options are registered and listed for oslo-config-generator."""

from __future__ import annotations

from importlib import metadata

from oslo_config import cfg

from nested_pivot import conf


def test_list_opts_lists_registered_options():
    groups = {group.name: opts for group, opts in conf.list_opts()}
    assert 'search_budget' in {o.name for o in groups['nested_pivot']}
    config = cfg.ConfigOpts()
    conf.register_opts(config)
    config([])
    assert config.nested_pivot.search_budget == 200000


def test_entry_point_is_declared():
    """Fails if setup.cfg loses the oslo.config.opts entry point, which
    `oslo-config-generator --namespace nested_pivot` needs."""
    points = metadata.entry_points(group='oslo.config.opts')
    assert any(p.name == 'nested_pivot' and
               p.value == 'nested_pivot.conf:list_opts' for p in points)
