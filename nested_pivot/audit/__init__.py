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

"""Allocations that nova does not account for, on pivoted nodes and flat
ones: ``nested-pivot audit`` and the check after a pivot.

nova's resource tracker removes the allocations of deleted instances from
the compute root only; a leak on a child provider stays until someone
finds it.  :func:`audit_node` finds, on one node's whole tree, every
consumer that is neither a live instance of the node nor part of a move in
progress involving it, and every amount held on a provider without
inventory of its class; :func:`fix_node` removes the findings, guarded by
the consumer generation.
"""

from nested_pivot.audit.check import audit_node
from nested_pivot.audit.fix import fix_node
from nested_pivot.audit.model import Finding
from nested_pivot.audit.model import Fixed
from nested_pivot.audit.model import FixOutcome
from nested_pivot.audit.model import Leak
from nested_pivot.audit.model import NodeAudit
from nested_pivot.audit.model import State
from nested_pivot.audit.model import Stray

__all__ = ['Finding', 'FixOutcome', 'Fixed', 'Leak', 'NodeAudit', 'State',
           'Stray', 'audit_node', 'fix_node']
