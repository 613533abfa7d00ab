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


"""What the command says of a node's status: the reason a table cell or
a JSON document gives, short enough for one line (the whole list of
instances that do not fit is in the status's ``unfit``)."""

from __future__ import annotations

from nested_pivot import exception
from nested_pivot import text
from nested_pivot.service.reads import NodeStatus


def reason(status: NodeStatus | None) -> str:
    """Why the node is in its state, where something says why."""
    if status is None:
        return ''
    if status.note:
        return status.note
    if isinstance(status.problem, exception.CannotPivot):
        return short_reason(status.problem)
    return text.one_line(status.problem) if status.problem else ''


def short_reason(err: exception.CannotPivot) -> str:
    """A count and the worst offender: the full list is in ``unfit``."""
    if not err.unfit:
        return text.one_line(err)
    worst = max(err.unfit, key=lambda u: (sum(u.needs.values()),
                                          u.consumer))
    needs = ' '.join(f'{rc}={n}' for rc, n in worst.needs.items())
    verb = 'does' if len(err.unfit) == 1 else 'do'
    return (f'{err.kwargs.get("node", "")}: '
            f'{text.plural(len(err.unfit), "instance")} {verb} not fit; '
            f'largest: {worst.consumer} needs {needs}')
