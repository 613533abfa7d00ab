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

"""Stopping a command: once it stops, no further signal cuts it short."""

from __future__ import annotations

from collections.abc import Iterator
import io
import os
import signal
import time

import pytest

from nested_pivot.cmd import signals


@pytest.fixture
def handlers() -> Iterator[None]:
    """This process's handlers of Ctrl-C and SIGTERM, put back after."""
    old = {sig: signal.getsignal(sig) for sig in signals.STOPPING}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _deliver(sig: signal.Signals) -> None:
    os.kill(os.getpid(), sig)
    time.sleep(0.05)  # Python runs the handler at its next check


def test_a_signal_while_finishing_only_says_so(handlers):
    signals.install()
    out = io.StringIO()
    with signals.finishing(out, 'the nodes in flight'):
        _deliver(signal.SIGTERM)
        _deliver(signal.SIGINT)
    assert 'SIGTERM: still finishing the nodes in flight' in out.getvalue()
    assert 'SIGINT: still finishing the nodes in flight' in out.getvalue()


def test_after_finishing_further_signals_are_ignored(handlers):
    """Fails when finishing puts the old handlers back: a second Ctrl-C
    then cuts the summary short, or, once Python has restored the default
    handlers at its exit, kills the process (exit -2, not 130)."""
    signals.install()
    with signals.finishing(io.StringIO(), 'the nodes in flight'):
        pass
    assert {signal.getsignal(s) for s in signals.STOPPING} == {
        signal.SIG_IGN}
    _deliver(signal.SIGINT)
    _deliver(signal.SIGTERM)


def test_stopping_ignores_both_signals(handlers):
    signals.install()
    assert signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN
    signals.stopping()
    assert {signal.getsignal(s) for s in signals.STOPPING} == {
        signal.SIG_IGN}
