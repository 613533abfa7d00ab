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

"""``nested-pivot request NODE... | --all``: ask for a pivot at the next
restart.

For nodes whose nova-compute runs with ``[nested_pivot] pivot_mode =
requested``: the request is a trait on the node's root provider, so it
lives in Placement where both this tool and the compute see it.  A node
already pivoted, or that no rule matches, is not requested: the command
says so and exits 1; a node that cannot be pivoted is not requested unless
forced (exit 2).
"""

from __future__ import annotations

import argparse
from typing import Any

from nested_pivot.cmd import apply
from nested_pivot.cmd import say
from nested_pivot.cmd import selection
from nested_pivot.cmd.codes import Code
from nested_pivot.cmd.context import Context
from nested_pivot.service import workflows
from nested_pivot.service.workflows import Request

DESCRIPTION = """\
Mark each node selected for a pivot at its next nova-compute restart, for
computes that run the hook with [nested_pivot] pivot_mode = requested: the
request is the trait CUSTOM_NESTED_PIVOT_REQUESTED on the node's root
provider, which both this command and the compute see. A running
nova-compute does not pick it up before it restarts. Every node is
checked first: a node already pivoted, or that no rule matches, is not
requested (exit 1); nor is a node whose instances do not fit its children
or whose facts refuse its pivot (exit 2), since with on_infeasible = fail
its nova-compute would not start; --force requests it anyway. --cancel
withdraws requests not yet acted on."""


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        'request', parents=[common],
        help='mark nodes to pivot at their next nova-compute restart '
             '(pivot_mode = requested)',
        description=DESCRIPTION)
    selection.add_arguments(parser, verb='request',
                            every='every node a layout rule matches')
    parser.add_argument('--cancel', action='store_true',
                        help='withdraw the request')
    parser.add_argument('--force', action='store_true',
                        help='request nodes that cannot be pivoted, too '
                             '(their instances do not fit the children)')
    parser.set_defaults(run=run)


SAID = {
    Request.REQUESTED: 'pivot requested. It happens at the next restart of '
                       'nova-compute on the node; a running nova-compute '
                       'does not pick it up before.',
    Request.ALREADY_REQUESTED: 'already requested; nothing changed.',
    Request.WITHDRAWN: 'request withdrawn; a node already pivoted stays '
                       'pivoted (use rollback).',
    Request.NOT_REQUESTED: 'no request to withdraw; nothing changed.',
    Request.ALREADY_PIVOTED: 'already pivoted; nothing requested.',
    Request.NOT_APPLICABLE: 'no layout rule matches it, or none of its '
                            'classes are on it; nothing requested.',
    Request.CANNOT_PIVOT: 'cannot be pivoted, so not requested: with '
                          'on_infeasible = fail its nova-compute would not '
                          'start (--force requests it anyway).',
}


def run(ctx: Context) -> Code:
    cancel = ctx.args.cancel
    if not cancel:
        ctx.read_layout_file()
    outcomes = []
    with ctx.client() as client:
        client.version()
        chosen = selection.select(ctx, client)
        layouts = None if cancel else ctx.layouts(client, chosen.scope())
        nodes = (chosen.names if layouts is None
                 else apply.pivotable(chosen, layouts))
        for node in nodes:
            outcome = workflows.request_pivot(
                client, chosen.uuids[node], layouts, cancel=cancel,
                force=ctx.args.force)
            outcomes.append(outcome)
            why = say.reason(outcome.status)
            if not ctx.args.json:
                ctx.print(f'{outcome.node}: {SAID[outcome.result]}'
                          + (f' {why}' if why else ''))
    code = _code(outcomes)
    if ctx.args.json:
        ctx.report(code, [{'node': o.node, 'uuid': o.uuid,
                           'result': o.result.value,
                           'changed': o.result.changed,
                           'reason': say.reason(o.status)} for o in outcomes])
    return code


def _code(outcomes: list[workflows.RequestOutcome]) -> Code:
    """2 when a node cannot be pivoted, 1 when one was left as it was."""
    if any(o.result is Request.CANNOT_PIVOT for o in outcomes):
        return Code.FAILURE
    return (Code.SUCCESS if all(o.result.changed for o in outcomes)
            else Code.WARNING)
