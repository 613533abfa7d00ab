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

"""Everything the offline database layer takes from Placement's code.

:mod:`nested_pivot.placement.database` and
:mod:`nested_pivot.placement.reshaper` read Placement's tables and call
Placement's objects directly, which no API version guards.  They use only
what is listed here, which is the same in every release of
:data:`RELEASES`.  :func:`problems` compares the installed Placement with
it: offline, a Placement that differs is reached through its API instead
(slower, never wrong), and a guard test fails with the differences.
"""

from __future__ import annotations

from collections.abc import Callable
import importlib
import importlib.metadata
import inspect
from typing import Any

RELEASES = {'11': '2024.1', '13': '2025.1', '16': '2026.2'}
"""The Placement releases (major version: OpenStack release) whose tables
and objects this list was checked against."""

MODELS = 'placement.db.sqlalchemy.models'

TABLES: dict[str, dict[str, str]] = {
    'ResourceProvider': {'id': 'int', 'uuid': 'str', 'name': 'str',
                         'generation': 'int', 'root_provider_id': 'int',
                         'parent_provider_id': 'int'},
    'Inventory': {'resource_provider_id': 'int', 'resource_class_id': 'int',
                  'total': 'int', 'reserved': 'int', 'min_unit': 'int',
                  'max_unit': 'int', 'step_size': 'int',
                  'allocation_ratio': 'float'},
    'Allocation': {'resource_provider_id': 'int', 'consumer_id': 'str',
                   'resource_class_id': 'int', 'used': 'int'},
    'Consumer': {'id': 'int', 'uuid': 'str', 'project_id': 'int',
                 'user_id': 'int', 'generation': 'int',
                 'consumer_type_id': 'int'},
    'Project': {'id': 'int', 'external_id': 'str'},
    'User': {'id': 'int', 'external_id': 'str'},
    'ResourceProviderTrait': {'resource_provider_id': 'int',
                              'trait_id': 'int'},
    'Trait': {'id': 'int', 'name': 'str'},
    'ResourceProviderAggregate': {'resource_provider_id': 'int',
                                  'aggregate_id': 'int'},
    'PlacementAggregate': {'id': 'int', 'uuid': 'str'},
}
"""Model class: column: kind (int, str or float), of the columns read."""

CALLS: dict[str, tuple[str, ...]] = {
    'placement.objects.reshaper.reshape': ('ctx', 'inventories',
                                           'allocations'),
    'placement.objects.resource_provider.ResourceProvider': (
        'context', 'id', 'uuid', 'name', 'generation',
        'parent_provider_uuid', 'root_provider_uuid'),
    'placement.objects.allocation.Allocation': (
        'resource_provider', 'consumer', 'resource_class', 'used'),
    'placement.objects.allocation.get_all_by_consumer_id': (
        'context', 'consumer_id'),
    'placement.objects.consumer.Consumer': (
        'context', 'id', 'uuid', 'project', 'user', 'generation',
        'consumer_type_id'),
    'placement.objects.project.Project': ('context', 'id', 'external_id'),
    'placement.objects.user.User': ('context', 'id', 'external_id'),
    'placement.handlers.inventory.make_inventory_object': (
        'resource_provider', 'resource_class'),
    'placement.util.extract_json': ('body', 'schema'),
    'placement.db_api.configure': ('conf',),
    'placement.deploy.loadapp': ('config',),
    'placement.direct.PlacementDirect': ('conf',),
}
"""Callable: the parameters it is called with, by name."""

NAMES = (
    'placement.db_api.placement_context_manager',
    'placement.handlers.inventory.INVENTORY_DEFAULTS',
    'placement.schemas.reshaper.POST_RESHAPER_SCHEMA_V1_34',
    'placement.errors.DEFAULT', 'placement.errors.CONCURRENT_UPDATE',
    'placement.errors.INVENTORY_INUSE',
    'placement.errors.RESOURCE_PROVIDER_NOT_FOUND',
    'placement.exception.ConcurrentUpdateDetected',
    'placement.exception.NotFound', 'placement.exception.InventoryInUse',
    'placement.exception.InvalidInventory',
)
"""Other names used: constants, the transaction manager, exceptions."""

CONTEXT_CACHES = ('rc_cache', 'ct_cache')
"""Attribute caches of Placement's request context used for names."""

KINDS = {'int': ('INTEGER', 'BIGINT', 'SMALLINT'),
         'str': ('VARCHAR', 'CHAR', 'NVARCHAR', 'TEXT', 'UNICODE', 'STRING'),
         'float': ('FLOAT', 'REAL', 'DOUBLE', 'NUMERIC')}


def version() -> str:
    """The installed Placement's version, or '' without one."""
    try:
        return importlib.metadata.version('openstack-placement')
    except importlib.metadata.PackageNotFoundError:
        return ''


def problems(load: Callable[[str], Any] = importlib.import_module
             ) -> list[str]:
    """How the installed Placement (``load`` imports its modules) differs
    from this list, one line each; empty when it does not."""
    return _tables(load) + _calls(load) + _names(load) + _caches(load)


def summary(found: list[str]) -> str:
    """One paragraph naming the release and every difference."""
    known = ', '.join(f'{major} ({openstack})' for major, openstack in
                      RELEASES.items())
    return (f'openstack-placement {version() or "(not installed)"} differs '
            f'from what nested_pivot\'s offline database layer was checked '
            f'against (Placement {known}): ' + '; '.join(found) + '.')


def _tables(load: Callable[[str], Any]) -> list[str]:
    try:
        models = load(MODELS)
    except ImportError as err:
        return [f'{MODELS} cannot be imported: {err}']
    found = []
    for name, columns in TABLES.items():
        model = getattr(models, name, None)
        table = getattr(model, '__table__', None)
        if table is None:
            found.append(f'{MODELS}.{name} is gone')
            continue
        for column, kind in columns.items():
            if column not in table.c:
                found.append(f'table {table.name} has no column {column}')
                continue
            text = _type_name(table.c[column].type)
            if not text.startswith(KINDS[kind]):
                found.append(f'column {table.name}.{column} is {text}, '
                             f'not {kind}')
    return found


def _type_name(kind: Any) -> str:
    try:
        return str(kind.compile()).upper()
    except Exception:
        return type(kind).__name__.upper()


def _resolve(dotted: str, load: Callable[[str], Any]) -> Any:
    """The object named ``dotted``; LookupError naming what is missing."""
    module, _, attribute = dotted.rpartition('.')
    parts = [attribute]
    while module:
        try:
            found = load(module)
        except ImportError:
            module, _, outer = module.rpartition('.')
            parts.insert(0, outer)
            continue
        for part in parts:
            if not hasattr(found, part):
                raise LookupError(f'{dotted} is gone')
            found = getattr(found, part)
        return found
    raise LookupError(f'{dotted} cannot be imported')


def _calls(load: Callable[[str], Any]) -> list[str]:
    found = []
    for dotted, wanted in CALLS.items():
        try:
            target = _resolve(dotted, load)
        except LookupError as err:
            found.append(str(err))
            continue
        try:
            signature = inspect.signature(target)
        except (TypeError, ValueError):
            found.append(f'{dotted} is not callable')
            continue
        missing = [w for w in wanted if w not in signature.parameters]
        if missing:
            found.append(f'{dotted} no longer takes '
                         f'{", ".join(missing)}')
    return found


def _names(load: Callable[[str], Any]) -> list[str]:
    found = []
    for dotted in NAMES:
        try:
            _resolve(dotted, load)
        except LookupError as err:
            found.append(str(err))
    return found


def _caches(load: Callable[[str], Any]) -> list[str]:
    try:
        context = _resolve('placement.context.RequestContext', load)
        made = context(config=None)
    except Exception as err:
        return [f'placement.context.RequestContext(config=...) fails: '
                f'{type(err).__name__}: {err}']
    return [f'placement.context.RequestContext has no {name}'
            for name in CONTEXT_CACHES if not hasattr(made, name)]
