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

"""The guard of the offline database layer: the installed Placement has
every table, column and object it uses (nested_pivot.placement.contract),
and a Placement that changes one of them is named, with what changed."""

from __future__ import annotations

import importlib
import types
from typing import Any

import sqlalchemy as sa

from nested_pivot.placement import contract

REVIEW = ('Review nested_pivot/placement/database.py and reshaper.py '
          'against this Placement, then update '
          'nested_pivot/placement/contract.py (RELEASES too).')


def test_the_installed_placement_has_what_the_offline_layer_uses():
    found = contract.problems()
    assert not found, f'{contract.summary(found)} {REVIEW}'


def _changed(name: str, module: Any) -> Any:
    """A loader that gives ``module`` for ``name``, Placement's own
    modules otherwise."""
    def load(wanted: str) -> Any:
        return module if wanted == name else importlib.import_module(wanted)
    return load


def test_a_release_that_drops_a_column_is_named():
    real = importlib.import_module(contract.MODELS)
    metadata = sa.MetaData()
    consumers = sa.Table('consumers', metadata,
                         sa.Column('id', sa.Integer, primary_key=True),
                         sa.Column('uuid', sa.String(36)),
                         sa.Column('project_id', sa.Integer),
                         sa.Column('user_id', sa.Integer),
                         sa.Column('consumer_type_id', sa.String(10)))
    models = types.SimpleNamespace(**{
        name: getattr(real, name) for name in contract.TABLES})
    models.Consumer = types.SimpleNamespace(__table__=consumers)
    found = contract.problems(_changed(contract.MODELS, models))
    assert found == ['table consumers has no column generation',
                     'column consumers.consumer_type_id is VARCHAR(10), '
                     'not int']
    text = contract.summary(found)
    assert 'openstack-placement ' in text and '11 (2024.1)' in text
    assert 'table consumers has no column generation' in text


def test_a_release_that_changes_an_object_is_named():
    def reshape(context, inventories):  # a changed signature
        return None

    module = types.SimpleNamespace(reshape=reshape)
    found = contract.problems(_changed('placement.objects.reshaper',
                                       module))
    assert found == ['placement.objects.reshaper.reshape no longer takes '
                     'ctx, allocations']
    gone = contract.problems(_changed('placement.handlers.inventory',
                                      types.SimpleNamespace()))
    assert 'placement.handlers.inventory.make_inventory_object is gone' in \
        gone
    assert 'placement.handlers.inventory.INVENTORY_DEFAULTS is gone' in gone
