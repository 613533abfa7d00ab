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

"""What Placement's databases refuse, or store otherwise than written.

Placement keeps its data in SQLite, PostgreSQL or MariaDB, and each has
its ways: PostgreSQL refuses a NUL in a name; MariaDB takes two names that
differ only in case, accents or trailing spaces for one, and keeps an
``allocation_ratio`` as a single-precision float, shown to 6 significant
digits.  A plan is checked against all of them before anything is
written (:func:`check_names`), and a layout's ratios are compared with
Placement's the way Placement stores them (:func:`as_stored`), so that a
node pivoted on MariaDB is not rewritten by every run.
"""

from __future__ import annotations

import dataclasses
import struct

from nested_pivot import engine
from nested_pivot import exception
from nested_pivot import names
from nested_pivot.layout import Child
from nested_pivot.layout import Layout


def as_stored(ratio: float) -> float:
    """``ratio`` as MariaDB gives it back: a single-precision float, to
    6 significant digits (SQLite and PostgreSQL give back what was
    written)."""
    single = struct.unpack('f', struct.pack('f', ratio))[0]
    return float(f'{single:.6g}')


def layout_as_stored(layout: Layout, snapshot: engine.Snapshot) -> Layout:
    """``layout``, with each child's allocation ratio replaced by the one
    Placement holds for that child when the two are one number as
    Placement stores it: 1.2345678 and MariaDB's 1.23457 are the same."""
    by_name = {p.name: p for p in snapshot.providers.values()}
    node = snapshot.root_provider.name
    children = tuple(_child_as_stored(c, by_name.get(f'{node}_{c.name}'))
                     for c in layout.children)
    if children == layout.children:
        return layout
    return dataclasses.replace(layout, children=children)


def _child_as_stored(child: Child, current: engine.Provider | None
                     ) -> Child:
    if current is None:
        return child
    inventory = dict(child.inventory)
    for rc, wanted in child.inventory.items():
        held = current.inventory.get(rc)
        if (held is not None and held != wanted
                and as_stored(held.allocation_ratio)
                == as_stored(wanted.allocation_ratio)):
            inventory[rc] = dataclasses.replace(
                wanted, allocation_ratio=held.allocation_ratio)
    if inventory == dict(child.inventory):
        return child
    return dataclasses.replace(child, inventory=inventory)


def check_names(plan: engine.ReshapePlan) -> None:
    """Refuse a plan that creates a provider whose name a supported
    database cannot store, or would take for another provider's of the
    node's tree.

    :raises InvalidLayout: naming the child and what is wrong.
    """
    tree = [p for p in plan.after.providers.values()
            if p.parent is not None or p.uuid == plan.root]
    prefix = f'{plan.node}_'
    for child in plan.created:
        short = child.name[len(prefix):] if child.name.startswith(
            prefix) else child.name
        problem = (names.child_name_problem(short)
                   or names.name_problem(child.name))
        if problem:
            raise exception.InvalidLayout(
                reason=f'child {short!r} of node {plan.node}: {problem}')
        twin = next((p for p in tree if p.uuid != child.uuid
                     and names.same_to_a_database(p.name, child.name)),
                    None)
        if twin is not None:
            raise exception.InvalidLayout(
                reason=f'child {child.name!r} of node {plan.node} and '
                       f'{twin.name!r} differ only in case, accents or '
                       f'trailing spaces, and MariaDB takes them for one '
                       f'name (Placement\'s names are unique): rename one')
