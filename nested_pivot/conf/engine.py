"""Options of the pivot engine, in group ``[nested_pivot]``."""

from __future__ import annotations

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'nested_pivot',
    title='nested_pivot options',
    help='How nested_pivot moves a flat compute node onto child providers.')

OPTS: list[cfg.Opt] = [
    cfg.IntOpt(
        'search_budget',
        default=200000,
        min=1000,
        help='Search nodes the exact packer may visit per group of '
             'consumers before it gives up and reports that the '
             'instances do not fit. Raise it only when a pivot of a '
             'tightly packed host reports that the search gave up; '
             'hints from the hypervisor are the better fix.'),
]


def register_group(conf: cfg.ConfigOpts, group: cfg.OptGroup) -> None:
    """Register a copy of ``group``: oslo.config keeps overrides in the
    group object, which must not be shared between ConfigOpts."""
    conf.register_group(cfg.OptGroup(group.name, title=group.title,
                                     help=group.help))


def register_opts(conf: cfg.ConfigOpts) -> None:
    register_group(conf, GROUP)
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> list[tuple[cfg.OptGroup, list[cfg.Opt]]]:
    return [(GROUP, OPTS)]
