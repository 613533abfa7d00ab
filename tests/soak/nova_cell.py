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

"""The soak's nova: a real nova cell database (nova's migrations, rows
through nova's objects) that follows the soak's clients as nova's
services would: a compute node per node, an instance per seeded or
claimed consumer (written once Placement accepted the claim, as nova's
conductor does), destroyed before its allocations are deleted (as
nova-compute's delete does).  ``nested-pivot audit`` then judges the
fleet against it.

Writes are serialised: one SQLite file, written from the soak's threads.
"""

from __future__ import annotations

import threading

from tests.nova_db import cells


class SoakNova:
    """The cell database at ``connection`` (a SQLite URL)."""

    def __init__(self, connection: str) -> None:
        self.connection = connection
        self._cell = cells.NovaCell(connection)
        self._lock = threading.Lock()
        self.instances: dict[str, str] = {}

    def node(self, name: str) -> None:
        with self._lock:
            self._cell.node(name, [(16, 0, 32768), (16, 0, 32768)])

    def boot(self, consumer: str, node: str) -> None:
        """The instance of a claim Placement accepted on ``node``."""
        with self._lock:
            self._cell.instance(node, None, uuid=consumer, save=False)
            self.instances[consumer] = node

    def delete(self, consumer: str) -> None:
        """nova's delete, before it removes the allocations."""
        with self._lock:
            if self.instances.pop(consumer, None) is not None:
                self._cell.delete(consumer)
