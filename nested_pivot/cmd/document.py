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

"""The ``--json`` document of every command: one shape per command.

Every document has the keys of :data:`ENVELOPE` (the command, its exit
code, one entry per node, and the warnings and refusals that text output
puts on stderr), and the keys its :class:`Shape` adds; each entry of
``nodes`` has the keys of the shape's ``node``.  An error is the
envelope with ``error`` and ``code`` (:data:`ERROR`).  The operator
guide's table is generated from these (``.. nested-pivot-json::``), and
the functional tests check each command's output against them.
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
from typing import Any

ENVELOPE: Mapping[str, str] = {
    'command': 'the command: ``check``, ``plan``, ``apply`` ...',
    'exit': 'the exit code the command ends with',
    'nodes': 'one entry per node, in the order of the text output',
    'warnings': 'every warning, as stderr shows it: nova\'s facts\' '
                'inconsistencies, nodes left out of the selection, notes '
                'of the command',
    'refused': 'node name -> why nova\'s facts refuse its pivot '
               '(``--from-nova``); empty otherwise',
}

ERROR: Mapping[str, str] = {
    'error': 'the error, one line, as stderr shows it',
    'code': 'the error\'s code, e.g. ``nested_pivot.cli.node_selection``',
}

STATE = {
    'node': 'node name', 'uuid': 'root provider uuid',
    'state': '``flat``, ``partial``, ``requested``, ``pivoted``, '
             '``not_applicable``, ``cannot_pivot`` or ``double_counted``',
    'consumers': 'how many consumers would move',
    'moves': 'resource class -> amount that would move',
    'reason': 'why the node cannot be pivoted or is not applicable',
    'unfit': 'each instance that does not fit: ``consumer``, ``needs``, '
             '``free`` (room per child)',
}

OUTCOME = {
    'node': 'node name', 'uuid': 'root provider uuid',
    'result': 'what became of the node, as the table says it',
    'detail': 'how many consumers moved, or why it failed',
    'consumers': 'how many consumers moved',
    'retries': 'conflicts retried',
    'error': 'the failure\'s error code; empty otherwise',
    'leaked': 'consumers the pivot rewrote whose instance nova deleted '
              'meanwhile, still holding allocations (``--from-nova``; '
              '``audit --fix`` removes them)',
}

UNREAD = ('with ``--from-nova``, node name -> why none of the nova cells '
          'read has it, and which option reads it; empty otherwise')


STATUS = {
    **STATE,
    'journal': 'the node\'s journal entries, oldest first, each with its '
               '``path``',
    'journal_error': 'why the journal cannot be read; empty otherwise',
    'interrupted': 'the last pivot or rollback stopped between its '
                   'pre-image and its end: ``operation``, ``path`` and '
                   '``finish`` (the command that finishes it); null '
                   'otherwise',
}


@dataclasses.dataclass(frozen=True)
class Shape:
    """The keys a command adds to the envelope, and those of each entry
    of its ``nodes``, each with what it means."""

    top: Mapping[str, str]
    node: Mapping[str, str]


SHAPES: Mapping[str, Shape] = {
    'check': Shape(
        {'placement': '``microversion`` and ``reshaper_policy`` (true '
                      'when the credentials may reshape)',
         'code': 'the exit code again (kept from earlier versions)',
         'unread': UNREAD},
        STATE),
    'status': Shape(STATUS, STATUS),
    'plan': Shape({}, {
        **{k: STATE[k] for k in ('node', 'uuid', 'state', 'reason',
                                 'unfit')},
        'noop': 'true when the node already has its layout, or none '
                'applies',
        'before': 'the providers now: ``uuid``, ``name``, ``parent``, '
                  '``traits``, ``inventory`` (each class with ``used``)',
        'after': 'the providers after the pivot, alike; empty when it '
                 'cannot be pivoted',
        'moves': 'each move: ``consumer``, ``resource_class``, '
                 '``amount``, ``source``, ``target``, ``converted_from``',
        'heals': 'each allocation healed: ``consumer``, '
                 '``resource_class``, ``amount``, ``target``',
        'changes': 'each consumer whose amounts change: ``consumer``, '
                   '``before``, ``after``, ``why`` (nova\'s facts\' reason)',
        'nova': 'with ``--from-nova``, consumer -> what nova\'s records '
                'say it is (an instance, a side of a move in progress)',
        'reparented': 'provider uuid -> its new parent',
        'renamed': 'provider uuid -> ``from`` and ``to``: children renamed '
                   'in place',
        'unread': 'true when no nova cell read has the node',
        'consumers': 'the consumers that move',
        'foreign': 'providers of other services, left as they are'}),
    'apply': Shape(
        {'failed': 'how many nodes failed',
         'counts': 'result -> how many nodes had it',
         'unread': UNREAD}, OUTCOME),
    'rollback': Shape(
        {'failed': 'how many nodes failed',
         'counts': 'result -> how many nodes had it',
         'unread': UNREAD}, OUTCOME),
    'request': Shape({}, {
        'node': 'node name', 'uuid': 'root provider uuid',
        'result': '``requested``, ``withdrawn``, ``already requested``, '
                  '``not requested``, ``already pivoted``, ``not '
                  'applicable`` or ``cannot pivot``',
        'changed': 'true when the request was made or withdrawn',
        'reason': 'why nothing was requested; empty otherwise'}),
    'discover': Shape(
        {'layouts': 'the rules, as a layout file holds them',
         'summary': 'with nova\'s facts: ``nodes``, ``hinted``, '
                    '``packed``, ``warnings``, ``refused``; null from '
                    'sysfs'}, {}),
    'audit': Shape(
        {'code': 'the exit code again',
         'findings': 'how many consumers nova does not account for',
         'strays': 'how many amounts are held without inventory',
         'fixed': '``--fix``\'s result -> how many consumers had it'},
        {'node': 'node name, or the name given when no node has it',
         'uuid': 'root provider uuid; null when no node has the name',
         'error': 'why the node was not audited; empty otherwise',
         'skipped': 'why nova\'s facts cannot judge the node; empty '
                    'otherwise',
         'providers': 'provider uuid -> name, for the node\'s tree',
         'findings': 'each consumer found: ``consumer``, ``state``, '
                     '``nova``, ``held``, ``consumer_generation``, '
                     '``removable``, ``fixable``, ``why_not``, ``fix``',
         'strays': 'each amount held on a provider without that class\'s '
                   'inventory'}),
}
"""Each command's shape.  ``rollback --dry-run`` has ``plan``'s (its
``state`` is ``flat`` for a node already flat, else ``nested``).  A
document of ``discover`` is also a layout file (``--layouts`` reads its
``layouts``); ``status`` has its one node's keys at the top level, and the
node in ``nodes``."""


def envelope(ctx: Any, exit_code: int, nodes: list[Any], /,
             **fields: Any) -> dict[str, Any]:
    """The document of ``ctx``'s command (a
    :class:`~nested_pivot.cmd.context.Context`)."""
    built = ctx.built
    warnings = [*(built.summary.warnings if built is not None else ()),
                *ctx.warnings]
    refused = dict(built.summary.refused) if built is not None else {}
    return {**fields, 'command': ctx.args.command, 'exit': int(exit_code),
            'nodes': nodes, 'warnings': warnings, 'refused': refused}
