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

"""Offline ``apply --concurrency N``: N worker processes.

Offline, Placement runs inside nested-pivot, and one Python interpreter
serves one request at a time: threads buy nothing there.  On PostgreSQL
and MariaDB each worker is a process of its own (started fresh, not
forked), with its own Placement in process and its own database pool; the
command hands out one node at a time to each and keeps the journal, the
progress bar and the summary as with one worker.  Workers ignore Ctrl-C
and SIGTERM: the command decides, and lets the nodes in flight finish.
SQLite serves one writer at a time: there nodes go one at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
import concurrent.futures
import contextlib
import dataclasses
import multiprocessing
from multiprocessing.reduction import ForkingPickler
import signal
import types
from typing import Any

from nested_pivot.cmd import access
from nested_pivot.journal import Journal
from nested_pivot.layout import Layout
from nested_pivot.placement import PlacementClient
from nested_pivot.service import workflows
from nested_pivot.service.workflows import NodeOutcome

SERVERS = ('postgresql', 'mysql', 'mariadb')
"""Database URL schemes (before any ``+driver``) that serve workers."""


def parallel_database(connection: str | None) -> bool:
    """Can worker processes share this Placement database?"""
    scheme = (connection or '').split(':', 1)[0].split('+', 1)[0]
    return scheme.lower() in SERVERS


@dataclasses.dataclass(frozen=True)
class Setup:
    """What a worker needs to reach Placement and the journal."""

    config_files: tuple[str, ...]
    placement_db: str
    state_dir: str


_WORKER: dict[str, Any] = {}
"""The worker's own client and journal, made once by :func:`start`."""


def _proxy(mapping: dict[Any, Any]) -> Mapping[Any, Any]:
    return types.MappingProxyType(mapping)


def _reduce_proxy(mapping: Mapping[Any, Any]) -> tuple[Any, ...]:
    return _proxy, (dict(mapping),)


# Layouts keep their mappings read-only: let multiprocessing (and only it)
# carry them to the workers as copies.
ForkingPickler.register(types.MappingProxyType, _reduce_proxy)


SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""What the command decides about, for its workers too."""


@contextlib.contextmanager
def spawning() -> Iterator[None]:
    """Start worker processes that ignore :data:`SIGNALS` from their
    first instruction on (a Ctrl-C on the terminal reaches the whole
    process group), and lose none sent to this process meanwhile.

    Order matters: the signals are blocked first, so that one arriving
    now waits instead of being ignored; then ignored, which a new process
    inherits; and once the process is started, handled again before they
    are unblocked, so that a signal that waited is handled here.
    """
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    handlers = [signal.signal(sig, signal.SIG_IGN) for sig in SIGNALS]
    try:
        yield
    finally:
        for sig, handler in zip(SIGNALS, handlers, strict=True):
            signal.signal(sig, signal.SIG_DFL if handler is None
                          else handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def start(setup: Setup) -> None:
    """A worker's start: its own Placement client, for its lifetime."""
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    stack = contextlib.ExitStack()
    client: PlacementClient = stack.enter_context(
        access.client(list(setup.config_files), setup.placement_db))
    client.version()
    _WORKER.update(client=client, journal=Journal(setup.state_dir),
                   stack=stack)


def pivot(node: str, layout: Layout, hints: Mapping[str, Any] | None
          ) -> NodeOutcome:
    """One node, in a worker: exactly what one worker does in process."""
    return workflows.pivot_node(_WORKER['client'], _WORKER['journal'],
                                node, layout, hints)


def pool(setup: Setup, workers: int) -> concurrent.futures.Executor:
    """``workers`` fresh processes, each started by :func:`start`."""
    return concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context('spawn'),
        initializer=start, initargs=(setup,))


def setup(config_files: Sequence[str], placement_db: str,
          state_dir: str) -> Setup:
    return Setup(tuple(config_files), placement_db, str(state_dir))
