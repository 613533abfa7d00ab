"""Configuration options of nested_pivot.

Options are registered by calling :func:`register_opts`; :func:`list_opts`
feeds ``oslo-config-generator --namespace nested_pivot``.
"""

from __future__ import annotations

from oslo_config import cfg

from nested_pivot.conf import engine

_MODULES = (engine,)


def register_opts(conf: cfg.ConfigOpts) -> None:
    for module in _MODULES:
        module.register_opts(conf)


def list_opts() -> list[tuple[cfg.OptGroup, list[cfg.Opt]]]:
    """Every option, by group, for the sample config generator."""
    return [item for module in _MODULES for item in module.list_opts()]
