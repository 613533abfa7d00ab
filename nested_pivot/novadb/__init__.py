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

"""Layouts and hints from nova's own database, for exact offline pivots.

During a fast-forward upgrade every service is down, but nova's cell
databases still hold where each instance sits: each compute node's NUMA
topology and PCI devices, each instance's NUMA cells, pinning and VFs, and
the moves in progress.  :func:`read` reads them with nova's own objects
(nova is imported then, not before), and :func:`build` makes them one
layout rule per compute node with a hint per instance, checked against
what Placement holds when it is given its views
(:func:`nested_pivot.service.views.views` reads them).
"""

from nested_pivot.novadb.build import build
from nested_pivot.novadb.build import Built
from nested_pivot.novadb.build import NodeView
from nested_pivot.novadb.build import Summary
from nested_pivot.novadb.facts import Consumer
from nested_pivot.novadb.facts import Facts
from nested_pivot.novadb.facts import GuestCell
from nested_pivot.novadb.facts import HostCell
from nested_pivot.novadb.facts import Node
from nested_pivot.novadb.facts import PfRecord
from nested_pivot.novadb.reader import read
from nested_pivot.novadb.reader import Source

__all__ = ['Built', 'Consumer', 'Facts', 'GuestCell', 'HostCell', 'Node',
           'NodeView', 'PfRecord', 'PhysicalFunction', 'Source', 'Summary',
           'build', 'read']

PhysicalFunction = PfRecord
"""Deprecated name of :class:`PfRecord` (one name per thing: a
``PhysicalFunction`` is what a driver declares, in
:mod:`nested_pivot.layouts`)."""
