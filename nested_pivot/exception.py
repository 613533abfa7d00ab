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

"""Exceptions raised by nested_pivot.

Every exception derives from :class:`PivotError`.  As in placement, a
subclass sets ``msg_fmt`` and is raised with the keyword arguments that fill
it; ``code`` is a fixed symbol from :mod:`nested_pivot.errors`;
``format_message()`` gives the message, as in placement and nova.  The
signals the library raises and catches itself (a concurrent change to
re-plan on, a transient failure to retry, a node whose facts are refused)
are subclasses too, each with its own code.
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
from typing import Any

from oslo_log import log as logging

from nested_pivot import errors

LOG = logging.getLogger(__name__)


class PivotError(Exception):
    """Base class of every nested_pivot error."""

    msg_fmt = 'An unknown error occurred.'
    code = errors.DEFAULT

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        self.kwargs = kwargs
        if message is None:
            try:
                message = self.msg_fmt % kwargs
            except (KeyError, TypeError, ValueError):
                # As placement does: a bad format must not hide the error.
                LOG.exception('Cannot format the message of %s with %s',
                              type(self).__name__, sorted(kwargs))
                message = self.msg_fmt
        self.message = message
        super().__init__(message)

    def format_message(self) -> str:
        """The message, formatted from ``msg_fmt`` or given."""
        return self.message


class InvalidLayout(PivotError):
    msg_fmt = 'Invalid layout: %(reason)s'
    code = errors.INVALID_LAYOUT


class LayoutFileError(InvalidLayout):
    """A layout file (``--layouts``) that cannot be read or trusted; the
    reason is cut to :data:`MAX_QUOTED` characters."""

    msg_fmt = '%(file)s: %(where)s: %(reason)s'
    code = errors.LAYOUT_FILE_INVALID

    MAX_QUOTED = 300
    """How much of a reason the message quotes, in characters."""

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        if 'reason' in kwargs:
            kwargs['reason'] = _short(str(kwargs['reason']),
                                      self.MAX_QUOTED)
        super().__init__(message, **kwargs)


def _short(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f'{text[:limit]}... ({len(text)} characters)'


class NoTargetProvider(InvalidLayout):
    msg_fmt = ('Node %(node)s: consumer %(consumer)s holds %(amount)d '
               '%(resource_class)s on provider %(source)s, which no longer '
               'offers it, and no provider of the target tree offers '
               '%(resource_class)s.')
    code = errors.NO_TARGET_PROVIDER


class ForeignProvider(InvalidLayout):
    msg_fmt = ('Invalid layout: child %(child)s of node %(node)s is '
               'provider %(provider)s (%(uuid)s), which another owner '
               'manages (%(marks)s); a layout never adopts it. Rename the '
               'child.')
    code = errors.FOREIGN_PROVIDER


class InvalidNodeName(PivotError):
    msg_fmt = 'Invalid node name %(node)r: %(reason)s'
    code = errors.INVALID_NODE_NAME


class InvalidHint(PivotError):
    msg_fmt = 'Invalid hint for consumer %(consumer)s: %(reason)s'
    code = errors.INVALID_HINT


class InvalidAllocations(PivotError):
    msg_fmt = 'Invalid allocations: %(reason)s'
    code = errors.INVALID_ALLOCATIONS


class InvalidTree(PivotError):
    msg_fmt = 'Invalid provider tree: %(reason)s'
    code = errors.INVALID_TREE


@dataclasses.dataclass(frozen=True)
class Unfit:
    """A consumer that does not fit: what it needs, and the free room per
    class of each child that could have taken it (by provider name)."""

    consumer: str
    needs: Mapping[str, int]
    free: Mapping[str, Mapping[str, float]]


class CannotPivot(PivotError):
    """No valid placement of the displaced allocations exists.

    ``unplaced`` lists the consumers that do not fit, so that callers (the
    nova helper, the CLI) can say which instance to move to make room;
    ``unfit`` says what each needs and where room is left.  ``consumers``
    and ``moving`` are what the pivot would have moved: how many consumers,
    and the amount per class.
    """

    msg_fmt = 'Cannot pivot node %(node)s: %(reason)s'
    code = errors.CANNOT_PIVOT

    def __init__(self, message: str | None = None,
                 unplaced: tuple[str, ...] = (),
                 unfit: tuple[Unfit, ...] = (), consumers: int = 0,
                 moving: Mapping[str, int] | None = None,
                 **kwargs: Any) -> None:
        self.unplaced = unplaced
        self.unfit = unfit
        self.consumers = consumers
        self.moving: Mapping[str, int] = dict(moving or {})
        super().__init__(message, **kwargs)


class InventoryBelowUsage(CannotPivot):
    msg_fmt = ('Cannot pivot node %(node)s: provider %(provider)s would '
               'offer %(capacity)s %(resource_class)s but allocations that '
               'stay on it use %(used)d.')
    code = errors.INVENTORY_BELOW_USAGE


class DeviceAllocationStranded(CannotPivot):
    """A pivot that would move a device's allocation to another device:
    only a hint may do that, so the layout cannot be reached as it is."""

    msg_fmt = ('Node %(node)s: consumer %(consumer)s holds %(amount)d '
               '%(resource_class)s on %(source)s, where the layout no longer '
               'offers it, and no provider of its own branch of the tree '
               'does. An allocation never changes device on its own: name '
               'the device it moves to in a hint, or keep %(source)s.')
    code = errors.DEVICE_ALLOCATION_STRANDED


class UnsupportedMicroversion(PivotError):
    msg_fmt = ('Microversion %(version)s is not supported for POST '
               '/reshaper: use %(minimum)s to %(maximum)s.')
    code = errors.UNSUPPORTED_MICROVERSION


class MissingConsumerType(PivotError):
    msg_fmt = ('Microversion %(version)s requires a consumer_type, but '
               'consumers %(consumers)s have none; use a microversion below '
               '1.38 for them.')
    code = errors.MISSING_CONSUMER_TYPE


class PlacementError(PivotError):
    """Placement answered with an error nested_pivot cannot handle.

    ``status`` is the HTTP status, ``error_code`` placement's own code
    (e.g. ``placement.inventory.inuse``) and ``detail`` its message.
    """

    msg_fmt = ('Placement refused %(method)s %(url)s: HTTP %(status)s '
               '%(error_code)s: %(detail)s')
    code = errors.PLACEMENT_ERROR

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        self.status: int | None = kwargs.get('status')
        self.error_code: str | None = kwargs.get('error_code')
        self.detail: str = kwargs.get('detail', '')
        super().__init__(message, **kwargs)


class NodeChanged(PivotError):
    """Placement saw a concurrent change to the node: re-read, re-plan,
    retry (the pivot does, up to ``[nested_pivot] conflict_retries``, then
    raises :class:`ConcurrentUpdate`).

    ``maybe_applied``: the request had been sent before without an
    answer, so the change Placement saw may be this very write.
    """

    msg_fmt = '%(detail)s'
    code = errors.NODE_CHANGED

    def __init__(self, message: str | None = None,
                 maybe_applied: bool = False, **kwargs: Any) -> None:
        self.maybe_applied = maybe_applied
        super().__init__(message, **kwargs)


class TransientFailure(PivotError):
    """A failure worth retrying: a connection error, a timeout or an HTTP
    5xx answer.  The client retries it; past its retries it raises
    :class:`PlacementUnavailable`."""

    msg_fmt = '%(detail)s'
    code = errors.TRANSIENT_FAILURE


class PlacementTooOld(PlacementError):
    msg_fmt = ('Placement at %(url)s supports microversions up to '
               '%(version)s, but pivoting needs %(minimum)s: upgrade '
               'placement before pivoting.')
    code = errors.PLACEMENT_TOO_OLD


class PlacementUnavailable(PlacementError):
    msg_fmt = ('Placement at %(url)s is unavailable after %(attempts)d '
               'attempts: %(detail)s')
    code = errors.PLACEMENT_UNAVAILABLE


class AuthenticationFailed(PlacementError):
    msg_fmt = ('Authentication at %(auth_url)s failed, so Placement cannot '
               'be reached: %(detail)s')
    code = errors.AUTHENTICATION_FAILED


class PermissionDenied(PlacementError):
    msg_fmt = ('Placement refused %(method)s %(url)s (HTTP 403): the '
               'credentials need the "service" role to pass the policy '
               '%(policy)s. %(detail)s')
    code = errors.PERMISSION_DENIED


class ReshapeRejected(PlacementError):
    msg_fmt = ('Placement rejected the reshape of node %(node)s: HTTP '
               '%(status)s %(error_code)s: %(detail)s')
    code = errors.RESHAPE_REJECTED


class ConcurrentUpdate(PlacementError):
    msg_fmt = ('Node %(node)s kept changing during the pivot: placement '
               'reported a concurrent update %(attempts)d times. %(detail)s')
    code = errors.CONCURRENT_UPDATE


class NodeNotFound(PlacementError):
    msg_fmt = 'No resource provider named or with uuid %(node)s in placement.'
    code = errors.NODE_NOT_FOUND


class ProviderNameClash(PlacementError):
    msg_fmt = ('Cannot create child %(name)s of node %(node)s: the name is '
               'taken by provider %(uuid)s, which is not part of the node.')
    code = errors.PROVIDER_NAME_CLASH


class ProviderUuidClash(PlacementError):
    msg_fmt = ('Cannot create child %(name)s of node %(node)s: its uuid '
               '%(uuid)s is taken by provider %(other)s, which is not part '
               'of the node.')
    code = errors.PROVIDER_UUID_CLASH


class MalformedAnswer(PlacementError):
    """A 2xx answer that is not what Placement sends: an HTML page from a
    proxy, JSON without the expected fields."""

    msg_fmt = ('Placement answered %(method)s %(url)s with HTTP %(status)s, '
               'but not with what Placement sends: %(detail)s. Is a proxy '
               'or load balancer in the way?')
    code = errors.MALFORMED_ANSWER


class RollbackIncomplete(PivotError):
    """A rollback that would leave a class both on the root and on a
    child: refused before anything is written."""

    msg_fmt = 'Cannot roll node %(node)s back to flat: %(reason)s'
    code = errors.ROLLBACK_INCOMPLETE


class ReshapeNeeded(PivotError):
    """Allocations must move: call again with them (nova's contract).

    Raised only when nova is not importable; with nova, the helper raises
    ``nova.exception.ReshapeNeeded`` so nova's resource tracker catches it.
    """

    msg_fmt = ('Virt driver indicates that provider inventories need to be '
               'moved.')
    code = errors.RESHAPE_NEEDED


class ReshapeFailed(PivotError):
    """The pivot failed at nova-compute start (stand-in for nova's)."""

    msg_fmt = ('Resource provider inventory and allocation data migration '
               'failed: %(error)s')
    code = errors.RESHAPE_FAILED


class UnsafeOnline(PivotError):
    """An online pivot or rollback that the node's nova-compute would
    undo, or count twice."""

    msg_fmt = 'Node %(node)s: %(reason)s'
    code = errors.UNSAFE_ONLINE


class JournalError(PivotError):
    """A journal entry cannot be written, or read back and trusted."""

    msg_fmt = 'Journal %(path)s: %(problem)s'
    code = errors.JOURNAL_ERROR


class AccessError(PivotError):
    """The CLI cannot reach Placement: no or bad access options, a missing
    database driver, an unusable database."""

    msg_fmt = '%(reason)s'
    code = errors.ACCESS_ERROR


class NodeSelectionError(PivotError):
    """The nodes a command was given do not name compute nodes Placement
    has: an unknown name or uuid, a pattern, cell or aggregate that
    selects nothing.  A usage error: nothing is read further or
    written."""

    msg_fmt = '%(reason)s'
    code = errors.NODE_SELECTION


class DiscoveryError(PivotError):
    msg_fmt = 'Cannot discover the layout: %(path)s: %(problem)s'
    code = errors.DISCOVERY_ERROR


class NovaFactsError(PivotError):
    """nova's database cannot be read, or nova is not installed
    (``nested_pivot[nova]``)."""

    msg_fmt = "Cannot read nova's facts: %(reason)s"
    code = errors.NOVA_FACTS


class BadNovaRow(PivotError):
    """A row of nova's database that nova's objects cannot load: its node
    is left as it is, and the summary says which row to fix."""

    msg_fmt = '%(reason)s'
    code = errors.BAD_NOVA_ROW


class FactsRefused(PivotError):
    """A node's facts in nova's database contradict each other or
    Placement: the node gets no layout rule, and the summary says why."""

    msg_fmt = '%(reason)s'
    code = errors.FACTS_REFUSED
