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

"""The inventory fields a layout leaves out, filled by nova's rule.

A child's record gives ``total``; any other field it leaves out is filled
here, in this order of sources:

1. the child's own record in Placement, when the child already offers the
   class: an operator's ``reserved`` or ``allocation_ratio`` is never
   reset;
2. the node's former flat record of the class (the root's, or the
   driver's flat inventory in the hook): ``allocation_ratio``,
   ``min_unit`` and ``step_size`` as they were, ``max_unit`` the child's
   own total capped by the former ``max_unit`` (the libvirt driver reports
   ``max_unit = total``, so one instance never takes more than one cell
   holds), and the former ``reserved`` on the first child of the class
   that can hold it, as nova reserves host memory once;
3. Placement's defaults, with ``max_unit`` the child's total.

``max_unit`` is always capped by the child's total: a record that allows
one consumer more than the provider has is nova's rule broken.
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses

from nested_pivot import exception
from nested_pivot.layout import Child
from nested_pivot.layout import Inventory


@dataclasses.dataclass
class Pool:
    """The former ``reserved`` of each class not yet given to a child."""

    reserved: dict[str, int]

    @classmethod
    def of(cls, former: Mapping[str, Inventory]) -> Pool:
        return cls({rc: inv.reserved for rc, inv in former.items()})

    def take(self, rc: str, total: int) -> int:
        taken = min(self.reserved.get(rc, 0), total)
        self.reserved[rc] = self.reserved.get(rc, 0) - taken
        return taken


def resolve(node: str, child: Child, current: Mapping[str, Inventory],
            former: Mapping[str, Inventory], pool: Pool,
            siblings: Mapping[str, Inventory] | None = None
            ) -> dict[str, Inventory]:
    """The child's records with every field the layout left out filled.

    ``current`` is the child's inventory in Placement (empty when it is
    new), ``former`` the node's flat records, ``pool`` the reserved amounts
    still to place.  ``siblings`` holds, per class, the flat sum of the
    node's children's records: the former record of a class the root no
    longer holds, for a child new to that class.
    """
    result = {}
    for rc, record in child.inventory.items():
        unset = (child.unset or {}).get(rc, frozenset())
        if not unset:
            result[rc] = record
            continue
        values = dataclasses.asdict(record)
        known = former.get(rc)
        if known is None and rc not in current:
            known = (siblings or {}).get(rc)
        values.update(_filled(unset, record, current.get(rc), known, pool,
                              rc))
        try:
            result[rc] = Inventory(**values)
        except ValueError as err:
            raise exception.InvalidLayout(
                reason=f'child {child.name} of node {node}: {rc}: {err} '
                       f'(after filling {", ".join(sorted(unset))} by '
                       f'the default rule)') from None
    return result


def _filled(unset: frozenset[str], record: Inventory,
            current: Inventory | None, former: Inventory | None,
            pool: Pool, rc: str) -> dict[str, int | float]:
    values: dict[str, int | float] = {}
    source = current or former
    for field in ('allocation_ratio', 'min_unit', 'step_size'):
        if field in unset and source is not None:
            values[field] = getattr(source, field)
    if 'max_unit' in unset:
        cap = (former or current or record).max_unit
        values['max_unit'] = min(record.total, cap)
    if 'reserved' in unset:
        values['reserved'] = (min(current.reserved, record.total)
                              if current is not None
                              else pool.take(rc, record.total))
    max_unit = int(values.get('max_unit', record.max_unit))
    if 'min_unit' in unset:
        values['min_unit'] = min(int(values.get('min_unit', 1)), max_unit)
    return values
