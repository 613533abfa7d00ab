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


"""What the command says of a node's status (nested_pivot.cmd.say): one
reason per status, whatever its source."""

from __future__ import annotations

from nested_pivot import exception
from nested_pivot.cmd import say
from nested_pivot.placement.operations import NodeState
from nested_pivot.placement.operations import NodeStatus

UNFIT = (exception.Unfit('vm-small', {'VCPU': 2}, {'cell0': {'VCPU': 1}}),
         exception.Unfit('vm-large', {'VCPU': 8, 'MEMORY_MB': 4},
                         {'cell0': {'VCPU': 1}}))


def _status(**kwargs):
    return NodeStatus('cn1', 'u1', NodeState.CANNOT_PIVOT, **kwargs)


def test_a_note_is_the_reason():
    """Fails when a node its facts refuse, or no rule matches, shows no
    reason (nothing else says why)."""
    assert say.reason(_status(note='nova refuses it')) == 'nova refuses it'
    assert say.reason(None) == ''
    assert say.reason(NodeStatus('cn1', 'u1', NodeState.FLAT)) == ''


def test_instances_that_do_not_fit_give_a_count_and_the_largest():
    """Fails when a table cell lists every instance (the JSON's
    ``unfit`` has them) or names another than the largest."""
    err = exception.CannotPivot(node='cn1', reason='no room', unfit=UNFIT)
    status = _status(problem=err)
    assert say.reason(status) == ('cn1: 2 instances do not fit; largest: '
                                  'vm-large needs VCPU=8 MEMORY_MB=4')
    assert status.unfit == UNFIT


def test_any_other_problem_is_one_line_with_passwords_masked():
    """Fails when an error's reason spans lines or shows a password."""
    err = exception.InvalidLayout(
        reason='bad\n  rule in mysql://nova:secret@db/nova')
    reason = say.reason(_status(problem=err))
    assert '\n' not in reason and 'secret' not in reason
    assert 'bad rule' in reason
    assert _status(problem=err).unfit == ()
