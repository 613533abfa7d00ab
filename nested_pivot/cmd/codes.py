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

"""Exit codes: oslo.upgradecheck's 0 ok, 1 warning, 2 failure and 255
unexpected, and a code of its own for each other way a command ends."""

from __future__ import annotations

import enum


class Code(enum.IntEnum):
    SUCCESS = 0
    WARNING = 1
    FAILURE = 2
    DECLINED = 3
    USAGE = 64
    INTERRUPTED = 130
    BROKEN_PIPE = 141
    TERMINATED = 143
    UNEXPECTED = 255


MEANING: dict[Code, str] = {
    Code.SUCCESS: 'nothing to do, or everything done',
    Code.WARNING: 'work pending (nodes need a pivot), a request that '
                  'changed nothing, or nodes discover left out because '
                  'their facts contradict Placement',
    Code.FAILURE: 'a node cannot be pivoted, is counted twice, or its '
                  'pivot failed; or the credentials cannot pass the '
                  'reshaper policy',
    Code.DECLINED: 'the confirmation was declined, or there was no '
                   'terminal to ask on and no --yes: nothing was changed',
    Code.USAGE: 'bad command-line arguments, or a node, pattern, cell or '
                'aggregate that selects no compute node: nothing was '
                'changed',
    Code.INTERRUPTED: 'stopped by Ctrl-C: finished nodes stay done; rerun '
                      'to go on',
    Code.BROKEN_PIPE: 'the reader of the output went away (a pager or head '
                      'that quit)',
    Code.TERMINATED: 'stopped by SIGTERM (systemd, ansible, timeout), as by '
                     'Ctrl-C: finished nodes stay done; rerun to go on',
    Code.UNEXPECTED: 'bad configuration, unreachable Placement, or a bug',
}
"""What each exit code means: ``--help`` and the operator guide show
this table."""


def epilog() -> str:
    lines = ['exit codes:']
    lines += [f'  {int(code):<4} {MEANING[code]}' for code in Code]
    return '\n'.join(lines)
