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


"""The ``nested-pivot`` command run in this process, through its
``main(argv)``, where a subprocess proves nothing more: online, against
a real Placement server, with nothing the process holds for its whole
life (Placement's database configuration offline, nova's database
engines, oslo.log's handlers, worker processes), and from the test's
main thread only.

A run gets an empty stdin, the repository as its working directory, and
its own stdout and stderr, and gives them back as a subprocess would:
a :class:`subprocess.CompletedProcess`.  The signal handlers, the root
logger's handlers and filters, and the working directory are put back
after it.  ``NESTED_PIVOT_CLI_SUBPROCESS=1`` runs every command in a
subprocess again.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Sequence
import contextlib
import io
import logging
import os
from pathlib import Path
import signal
import subprocess
import sys
import threading

from nested_pivot.cmd import main as cli_main

SUBPROCESS_ONLY = frozenset({
    '--placement-db', '--workers', '--debug', '--log-file', '--log-dir',
    '--log-config-append', '--use-syslog', '--use-journal', '--from-nova',
    '--nova-db', '--cell', '--all-cells', '--nova-config-file'})
"""Options whose command holds state for the life of its process (or
logs at DEBUG to stderr, which this process's logging would take)."""


def possible(args: Sequence[str]) -> bool:
    """May ``args`` run in this process?  Not from a thread: commands
    run side by side (two applies racing) are processes, with their own
    stdout, signals and working directory."""
    if os.environ.get('NESTED_PIVOT_CLI_SUBPROCESS') \
            or os.environ.get('NESTED_PIVOT_PLACEMENT_DB') \
            or threading.current_thread() is not threading.main_thread():
        return False
    return not any(a.split('=', 1)[0] in SUBPROCESS_ONLY for a in args)


def run(script: str, args: Sequence[str], cwd: Path
        ) -> subprocess.CompletedProcess[str]:
    """``nested-pivot args`` in this process."""
    out, err = io.StringIO(), io.StringIO()
    with _restored(cwd), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        try:
            code = cli_main.main(list(args))
        except SystemExit as exit_:  # argparse's usage errors and --help
            code = _code(exit_.code)
    return subprocess.CompletedProcess([script, *args], code,
                                       out.getvalue(), err.getvalue())


def _code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f'{code}\n')
    return 1


@contextlib.contextmanager
def _restored(cwd: Path) -> Iterator[None]:
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT,
                                                  signal.SIGTERM)}
    root = logging.getLogger()
    level, kept = root.level, list(root.handlers)
    filters = {h: list(h.filters) for h in kept}
    stdin, here = sys.stdin, os.getcwd()
    sys.stdin = io.StringIO('')
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(here)
        sys.stdin = stdin
        for handler in list(root.handlers):
            if handler not in kept:
                root.removeHandler(handler)
        for handler, was in filters.items():
            handler.filters[:] = was
        root.setLevel(level)
        for number, handler in handlers.items():
            signal.signal(number, handler)
