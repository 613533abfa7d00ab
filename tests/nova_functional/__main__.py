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

"""``python -m tests.nova_functional [NAME ...]``: run these tests and end
with one ``nova: N passed, N failed, N skipped`` line; exit 1 on any
failure.

Without a NAME, the modules ``tests/nova_functional/test_*.py`` run (not
the ``suites`` package: ``tox -e nova-suites`` runs those).  A NAME is a
package (each of its ``test_*`` modules runs), a module, a class or a test,
e.g. ``tests.nova_functional.suites`` or
``nova.tests.functional.libvirt.test_vgpu`` (nova's own, unmodified).
Each package module and each NAME gets a line with its counts and time,
followed by the lines of its module's ``summary()``, if it has one.

nova's services log at INFO: that output goes to a file, which is shown
(its last lines) only when a test fails.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import pkgutil
import sys
import tempfile
import time
from typing import IO
import unittest

TAIL = 300
HERE = 'tests.nova_functional'


@dataclasses.dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    expected: int = 0

    def add(self, other: Counts) -> None:
        self.passed += other.passed
        self.failed += other.failed
        self.skipped += other.skipped
        self.expected += other.expected


def _names(argv: list[str]) -> list[str]:
    """The modules to run, one by one: a package stands for its
    ``test_*`` modules."""
    names = []
    for name in argv or [HERE]:
        try:
            module = importlib.import_module(name)
        except ImportError:
            names.append(name)  # a class or a test
            continue
        if not hasattr(module, '__path__'):
            names.append(name)
            continue
        names.extend(f'{name}.{info.name}' for info in sorted(
            pkgutil.iter_modules(module.__path__), key=lambda i: i.name)
            if info.name.startswith('test_') and not info.ispkg)
    return names


def _summary(name: str) -> list[str]:
    """The lines of the ``summary()`` of the module that ``name`` is in."""
    parts = name.split('.')
    for end in range(len(parts), 0, -1):
        module = sys.modules.get('.'.join(parts[:end]))
        if module is not None:
            summary = getattr(module, 'summary', None)
            return [f'  {line}' for line in summary()] if summary else []
    return []


def _run(name: str, report: IO[str]) -> tuple[Counts, float]:
    suite = unittest.defaultTestLoader.loadTestsFromName(name)
    start = time.monotonic()
    result = unittest.TextTestRunner(stream=report, verbosity=2).run(suite)
    elapsed = time.monotonic() - start
    failed = (len(result.failures) + len(result.errors)
              + len(result.unexpectedSuccesses))
    skipped = len(result.skipped)
    expected = len(result.expectedFailures)
    for test, _ in result.expectedFailures:
        print(f'expected failure (a known bug): {test.id()}', file=report)
    counts = Counts(result.testsRun - failed - skipped - expected, failed,
                    skipped, expected)
    return counts, elapsed


def main(argv: list[str]) -> int:
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - kept after exit
        'w+', prefix='nova-functional-', suffix='.log', delete=False)
    report = os.fdopen(os.dup(1), 'w', buffering=1)
    saved_err = os.dup(2)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    total, lines = Counts(), []
    try:
        for name in _names(argv):
            counts, elapsed = _run(name, report)
            total.add(counts)
            lines.append(f'{name}: {counts.passed} passed, {counts.failed} '
                         f'failed, {counts.skipped} skipped in '
                         f'{elapsed / 60:.1f} min')
            lines.extend(_summary(name))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(report.fileno(), 1)
        os.dup2(saved_err, 2)
    if total.failed:
        log.seek(0)
        tail = log.read().splitlines()
        print(f'---- the last {TAIL} lines of nova\'s log ({log.name}):',
              *tail[-TAIL:], sep='\n', file=report)
    else:
        os.unlink(log.name)
    if len(lines) > 1 or any(line.startswith(' ') for line in lines):
        print(*lines, sep='\n', file=report)
    print(f'nova: {total.passed} passed, {total.failed} failed, '
          f'{total.skipped} skipped', file=report)
    ran = total.passed + total.failed + total.skipped + total.expected
    return 1 if total.failed or not ran else 0


sys.exit(main(sys.argv[1:]))
