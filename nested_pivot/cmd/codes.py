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
    Code.USAGE: 'bad command-line arguments',
    Code.INTERRUPTED: 'stopped by Ctrl-C: finished nodes stay done; rerun '
                      'to go on',
    Code.BROKEN_PIPE: 'the reader of the output went away (a pager or head '
                      'that quit)',
    Code.UNEXPECTED: 'bad configuration, unreachable Placement, or a bug',
}
"""What each exit code means: ``--help`` and the operator guide show
this table."""


def epilog() -> str:
    lines = ['exit codes:']
    lines += [f'  {int(code):<4} {MEANING[code]}' for code in Code]
    return '\n'.join(lines)
