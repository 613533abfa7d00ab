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

"""The one rule for what a node's root provider holds after a change.

The engine (over Placement's tree), the nova hook (over the driver's flat
records) and the rollback (over the journal's records of before) each
give it their own inputs; none of them decides the root's records itself.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Set
from typing import TypeVar

R = TypeVar('R')


def records(own: Mapping[str, R], carried: Set[str],
            given: Mapping[str, R], leaving: Set[str],
            sums: Callable[[set[str]], Mapping[str, R]]) -> dict[str, R]:
    """The root's records.

    - The root keeps its ``own`` records of the classes no child carries
      (``carried``).
    - The caller's ``given`` records win over the root's own: the flat
      records a rollback restores, or the driver's.
    - A class ``leaving`` the children returns to the root as the given
      record, else the root's own, else the children's flat sum, which
      ``sums`` gives for the classes still missing.
    """
    found = {rc: rec for rc, rec in own.items() if rc not in carried}
    missing = set(leaving) - set(found) - set(given)
    if missing:
        found.update(sums(missing))
    found.update(given)
    return found
