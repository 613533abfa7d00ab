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

"""The application layer: what the operator's commands do, over the
Placement layer, nova's database, the journal and the layout file.

Only :mod:`nested_pivot.cmd` calls it; it calls down, never up:
``cmd -> service -> placement, novadb, audit, journal, layoutfile ->
engine``.  :mod:`~nested_pivot.service.workflows` holds the journaled
pivots and rollbacks, pivot requests and the survey of a fleet;
:mod:`~nested_pivot.service.reads` the reads of nodes the commands make;
:mod:`~nested_pivot.service.views` what Placement holds of the nodes
nova's facts describe, and the layouts built from both.
"""
