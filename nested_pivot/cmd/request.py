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

"""``nested-pivot request NODE...``: ask for a pivot at the next restart.

For nodes whose nova-compute runs with ``[nested_pivot] pivot_mode =
requested``: the request is a trait on the node's root provider, so it
lives in Placement where both this tool and the compute see it.  A node
already pivoted, or that no rule matches, is not requested: the command
says so and exits 1.
"""

from __future__ import annotations

import argparse
from typing import Any

from nested_pivot.cmd.arguments import node_name
from nested_pivot.cmd.codes import Code
from nested_pivot.cmd.context import Context
from nested_pivot.placement import workflows
from nested_pivot.placement.workflows import Request


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        'request', parents=[common],
        help='mark nodes to pivot at their next nova-compute restart '
             '(pivot_mode = requested)')
    parser.add_argument('nodes', metavar='NODE', nargs='+', type=node_name,
                        help='node name or uuid (repeatable)')
    parser.add_argument('--cancel', action='store_true',
                        help='withdraw the request')
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
}


def run(ctx: Context) -> Code:
    if not ctx.args.cancel:
        ctx.read_layout_file()
    outcomes = []
    with ctx.client() as client:
        client.version()
        layouts = None if ctx.args.cancel else ctx.layouts(
            client, ctx.args.nodes)
        for node in dict.fromkeys(ctx.args.nodes):
            outcome = workflows.request_pivot(client, node, layouts,
                                              cancel=ctx.args.cancel)
            outcomes.append(outcome)
            if not ctx.args.json:
                ctx.print(f'{outcome.node}: {SAID[outcome.result]}')
    if ctx.args.json:
        ctx.emit({'nodes': [{'node': o.node, 'uuid': o.uuid,
                             'result': o.result.value,
                             'changed': o.result.changed}
                            for o in outcomes]})
    return (Code.SUCCESS if all(o.result.changed for o in outcomes)
            else Code.WARNING)
