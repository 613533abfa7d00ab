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

"""Stopping a command: Ctrl-C and SIGTERM (systemd, ansible, ``timeout``)
alike.

The first one stops the command as Ctrl-C does (:class:`Terminated` is a
``KeyboardInterrupt``); while the nodes in flight then finish
(:func:`finishing`), any further one only says that they are finishing:
each pivot is atomic, and one cut short would leave its node ``partial``.
From then on (:func:`stopping`) any further one is ignored, so that the
summary is written whole and the exit code is that of the first one: a
signal that came after Python restored the default handlers at its exit
would kill the process instead.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import signal
import threading
from types import FrameType
from typing import TextIO

STOPPING = (signal.SIGINT, signal.SIGTERM)


class Terminated(KeyboardInterrupt):
    """SIGTERM, taken as the first Ctrl-C is."""


def install() -> None:
    """SIGTERM raises :class:`Terminated` in the main thread."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


@contextlib.contextmanager
def finishing(stream: TextIO, what: str) -> Iterator[None]:
    """While ``what`` finishes: Ctrl-C and SIGTERM say so, and wait."""
    def patient(signum: int, frame: FrameType | None) -> None:
        stream.write(f'nested-pivot: {signal.Signals(signum).name}: still '
                     f'finishing {what}; each pivot is atomic, and one cut '
                     f'short would leave its node partial. The summary '
                     f'follows.\n')
        stream.flush()

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    for sig in STOPPING:
        signal.signal(sig, patient)
    try:
        yield
    finally:
        stopping()


def stopping() -> None:
    """The command is stopping: further Ctrl-C and SIGTERM are ignored,
    until the process exits (Python keeps an ignored signal ignored at its
    exit, where it restores every handler it set to the default)."""
    if threading.current_thread() is threading.main_thread():
        for sig in STOPPING:
            signal.signal(sig, signal.SIG_IGN)
