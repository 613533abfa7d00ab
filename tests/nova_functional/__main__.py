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

"""``python -m tests.nova_functional``: run these tests and end with one
``nova: N passed, N failed, N skipped`` line; exit 1 on any failure.

nova's services log at INFO: that output goes to a file, which is shown
(its last lines) only when a test fails.
"""

import os
import sys
import tempfile
import unittest

TAIL = 300


def main() -> int:
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - kept after exit
        'w+', prefix='nova-functional-', suffix='.log', delete=False)
    report = os.fdopen(os.dup(1), 'w', buffering=1)
    saved_err = os.dup(2)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    try:
        suite = unittest.defaultTestLoader.discover(
            'tests/nova_functional', top_level_dir='.')
        result = unittest.TextTestRunner(stream=report, verbosity=2).run(
            suite)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(report.fileno(), 1)
        os.dup2(saved_err, 2)
    failed = (len(result.failures) + len(result.errors)
              + len(result.unexpectedSuccesses))
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped - len(
        result.expectedFailures)
    for test, _ in result.expectedFailures:
        print(f'expected failure (a known bug): {test.id()}', file=report)
    if failed:
        log.seek(0)
        lines = log.read().splitlines()
        print(f'---- the last {TAIL} lines of nova\'s log ({log.name}):',
              *lines[-TAIL:], sep='\n', file=report)
    else:
        os.unlink(log.name)
    print(f'nova: {passed} passed, {failed} failed, {skipped} skipped',
          file=report)
    return 1 if failed or not result.testsRun else 0


sys.exit(main())
