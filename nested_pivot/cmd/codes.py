"""Exit codes, as oslo.upgradecheck's: 0 ok, 1 warning, 2 failure, 255
unexpected."""

from __future__ import annotations

import enum


class Code(enum.IntEnum):
    SUCCESS = 0
    """Nothing to do, or everything done."""
    WARNING = 1
    """Work pending: nodes need a pivot."""
    FAILURE = 2
    """A node cannot be pivoted, or its pivot failed."""
    INTERRUPTED = 130
    """Stopped by SIGINT; finished nodes stay done, rerun to go on."""
    UNEXPECTED = 255
    """Bad configuration, unreachable Placement, or a bug."""
