"""Exceptions raised by nested_pivot.

Every exception derives from :class:`PivotError`.  As in placement, a
subclass sets ``msg_fmt`` and is raised with the keyword arguments that fill
it; ``code`` is a fixed symbol from :mod:`nested_pivot.errors`.
"""

from __future__ import annotations

from typing import Any

from nested_pivot import errors


class PivotError(Exception):
    """Base class of every nested_pivot error."""

    msg_fmt = 'An unknown error occurred.'
    code = errors.DEFAULT

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        self.kwargs = kwargs
        if message is None:
            message = self.msg_fmt % kwargs
        self.message = message
        super().__init__(message)


class InvalidLayout(PivotError):
    msg_fmt = 'Invalid layout: %(reason)s'
    code = errors.INVALID_LAYOUT


class NoTargetProvider(InvalidLayout):
    msg_fmt = ('Node %(node)s: consumer %(consumer)s holds %(amount)d '
               '%(resource_class)s on provider %(source)s, which no longer '
               'offers it, and no provider of the target tree offers '
               '%(resource_class)s.')
    code = errors.NO_TARGET_PROVIDER


class InvalidHint(PivotError):
    msg_fmt = 'Invalid hint for consumer %(consumer)s: %(reason)s'
    code = errors.INVALID_HINT


class InvalidAllocations(PivotError):
    msg_fmt = 'Invalid allocations: %(reason)s'
    code = errors.INVALID_ALLOCATIONS


class InvalidTree(PivotError):
    msg_fmt = 'Invalid provider tree: %(reason)s'
    code = errors.INVALID_TREE


class CannotPivot(PivotError):
    """No valid placement of the displaced allocations exists.

    ``unplaced`` lists the consumers that do not fit, so that callers (the
    nova helper, the CLI) can say which instance to move to make room.
    """

    msg_fmt = 'Cannot pivot node %(node)s: %(reason)s'
    code = errors.CANNOT_PIVOT

    def __init__(self, message: str | None = None,
                 unplaced: tuple[str, ...] = (), **kwargs: Any) -> None:
        self.unplaced = unplaced
        super().__init__(message, **kwargs)


class InventoryBelowUsage(CannotPivot):
    msg_fmt = ('Cannot pivot node %(node)s: provider %(provider)s would '
               'offer %(capacity)s %(resource_class)s but allocations that '
               'stay on it use %(used)d.')
    code = errors.INVENTORY_BELOW_USAGE


class UnsupportedMicroversion(PivotError):
    msg_fmt = ('Microversion %(version)s is not supported for POST '
               '/reshaper: use %(minimum)s to %(maximum)s.')
    code = errors.UNSUPPORTED_MICROVERSION


class MissingConsumerType(PivotError):
    msg_fmt = ('Microversion %(version)s requires a consumer_type, but '
               'consumers %(consumers)s have none; use a microversion below '
               '1.38 for them.')
    code = errors.MISSING_CONSUMER_TYPE
