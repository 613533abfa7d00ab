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

"""Seed real Placement with flat nodes and instances, and check it after.

Everything goes through Placement's own API (raw keystoneauth requests),
never through nested_pivot, so the checks are independent of the code
under test.
"""

from __future__ import annotations

from typing import Any
import uuid as uuidlib

from nested_pivot import Inventory
from nested_pivot import Layout

MV = '1.38'


def unique(prefix: str) -> str:
    return f'{prefix}-{uuidlib.uuid4().hex[:8]}'


def call(
    adapter: Any,
    method: str,
    url: str,
    body: Any = None,
    mv: str = MV,
    ok: tuple[int, ...] = (200, 201, 204),
) -> Any:
    resp = adapter.request(
        url, method, json=body, microversion=mv, raise_exc=False
    )
    assert resp.status_code in ok, (method, url, resp.status_code, resp.text)
    return resp.json() if resp.content else None


def flat_node(
    adapter: Any, name: str, inventory: dict[str, dict[str, Any]]
) -> str:
    """A root provider holding all the node's inventory; its uuid."""
    rp = call(adapter, 'POST', '/resource_providers', {'name': name})
    for rc in inventory:
        if rc.startswith('CUSTOM_'):
            call(adapter, 'PUT', f'/resource_classes/{rc}')
    call(
        adapter,
        'PUT',
        f'/resource_providers/{rp["uuid"]}/inventories',
        {
            'resource_provider_generation': rp['generation'],
            'inventories': inventory,
        },
    )
    return str(rp['uuid'])


def sharing_provider(
    adapter: Any, name: str, disk_gb: int, members: list[str]
) -> str:
    """A DISK_GB provider shared with ``members`` through an aggregate."""
    share = flat_node(adapter, name, {'DISK_GB': {'total': disk_gb}})
    agg = str(uuidlib.uuid4())
    for rp in (share, *members):
        gen = call(adapter, 'GET', f'/resource_providers/{rp}')['generation']
        call(
            adapter,
            'PUT',
            f'/resource_providers/{rp}/aggregates',
            {'aggregates': [agg], 'resource_provider_generation': gen},
        )
    gen = call(adapter, 'GET', f'/resource_providers/{share}')['generation']
    call(
        adapter,
        'PUT',
        f'/resource_providers/{share}/traits',
        {
            'traits': ['MISC_SHARES_VIA_AGGREGATE'],
            'resource_provider_generation': gen,
        },
    )
    return share


def allocate(
    adapter: Any,
    consumer: str,
    allocations: dict[str, dict],
    consumer_type: str | None = 'INSTANCE',
    generation: int | None = None,
) -> None:
    """PUT a consumer's allocations; untyped (as nova writes) at 1.28."""
    body: dict[str, Any] = {
        'allocations': {
            rp: {'resources': res} for rp, res in allocations.items()
        },
        'project_id': str(uuidlib.UUID(int=1)),
        'user_id': str(uuidlib.UUID(int=2)),
        'consumer_generation': generation,
    }
    mv = MV
    if consumer_type is None:
        mv = '1.28'
    else:
        body['consumer_type'] = consumer_type
    call(adapter, 'PUT', f'/allocations/{consumer}', body, mv=mv)


def instances(
    adapter: Any,
    root: str,
    count: int,
    resources: dict[str, int],
    **kwargs: Any,
) -> list[str]:
    consumers = [str(uuidlib.uuid4()) for _ in range(count)]
    for consumer in consumers:
        allocate(adapter, consumer, {root: resources}, **kwargs)
    return consumers


def allocations(adapter: Any, consumer: str) -> dict[str, Any]:
    return call(adapter, 'GET', f'/allocations/{consumer}')


def record(adapter: Any, consumer: str) -> dict[str, Any]:
    """A consumer's allocations and identity, without the providers'
    generations (which any write to the provider bumps)."""
    body = allocations(adapter, consumer)
    body['allocations'] = {
        rp: e['resources'] for rp, e in body['allocations'].items()
    }
    return body


def totals(adapter: Any, consumers: list[str]) -> dict[str, dict[str, int]]:
    """Per consumer, its total per class over all providers."""
    result: dict[str, dict[str, int]] = {}
    for consumer in consumers:
        per = result.setdefault(consumer, {})
        for entry in allocations(adapter, consumer)['allocations'].values():
            for rc, n in entry['resources'].items():
                per[rc] = per.get(rc, 0) + n
    return result


def tree(adapter: Any, root: str) -> list[dict[str, Any]]:
    return call(adapter, 'GET', f'/resource_providers?in_tree={root}')[
        'resource_providers'
    ]


def dump(adapter: Any, root: str, consumers: list[str]) -> dict[str, Any]:
    """Everything about a node and its consumers, to compare whole."""
    result: dict[str, Any] = {
        'consumers': {c: allocations(adapter, c) for c in consumers}
    }
    for rp in tree(adapter, root):
        u = rp['uuid']
        result[u] = (
            rp,
            call(adapter, 'GET', f'/resource_providers/{u}/inventories'),
            call(adapter, 'GET', f'/resource_providers/{u}/traits'),
        )
    return result


def assert_pivoted(
    adapter: Any,
    root: str,
    name: str,
    layout: Layout,
    before: dict[str, dict[str, int]],
) -> None:
    """What must hold after any pivot, read from Placement itself."""
    assert totals(adapter, list(before)) == before
    providers = {p['name']: p for p in tree(adapter, root)}
    for rp in providers.values():
        _assert_within_capacity(adapter, rp['uuid'])
    root_inv = call(adapter, 'GET', f'/resource_providers/{root}/inventories')[
        'inventories'
    ]
    assert not set(root_inv) & layout.resource_classes
    for child in layout.children:
        rp = providers[f'{name}_{child.name}']
        traits = call(
            adapter, 'GET', f'/resource_providers/{rp["uuid"]}/traits'
        )['traits']
        assert set(traits) == set(child.traits)
        inv = call(
            adapter, 'GET', f'/resource_providers/{rp["uuid"]}/inventories'
        )['inventories']
        assert set(inv) == set(child.inventory)
    assert len(providers) == len(layout.children) + 1


def _assert_within_capacity(adapter: Any, rp: str) -> None:
    inventories = call(
        adapter, 'GET', f'/resource_providers/{rp}/inventories'
    )['inventories']
    usages = call(adapter, 'GET', f'/resource_providers/{rp}/usages')['usages']
    for rc, used in usages.items():
        if used:
            capacity = Inventory.from_value(inventories[rc]).capacity
            assert used <= capacity, (rp, rc, used, capacity)


def child(
    adapter: Any,
    parent: str,
    name: str,
    inventory: dict[str, dict[str, Any]],
    traits: list[str] = (),  # type: ignore[assignment]
) -> str:
    """A child provider another service would make under ``parent``."""
    rp = call(
        adapter,
        'POST',
        '/resource_providers',
        {'name': name, 'parent_provider_uuid': parent},
    )
    for rc in inventory:
        if rc.startswith('CUSTOM_'):
            call(adapter, 'PUT', f'/resource_classes/{rc}')
    call(
        adapter,
        'PUT',
        f'/resource_providers/{rp["uuid"]}/inventories',
        {'resource_provider_generation': rp['generation'],
         'inventories': inventory},
    )
    if traits:
        add_traits(adapter, rp['uuid'], *traits)
    return str(rp['uuid'])


def add_traits(adapter: Any, rp: str, *traits: str) -> None:
    """Add traits to a provider, as an operator would."""
    current = call(adapter, 'GET', f'/resource_providers/{rp}/traits')
    for trait in traits:
        if trait.startswith('CUSTOM_'):
            call(adapter, 'PUT', f'/traits/{trait}')
    call(
        adapter,
        'PUT',
        f'/resource_providers/{rp}/traits',
        {'traits': sorted({*current['traits'], *traits}),
         'resource_provider_generation':
             current['resource_provider_generation']},
    )


def foreign_state(adapter: Any, rp: str) -> tuple[Any, ...]:
    """What another service's provider looks like, generations aside."""
    provider = call(adapter, 'GET', f'/resource_providers/{rp}')
    inventories = call(adapter, 'GET', f'/resource_providers/{rp}/inventories')
    held = call(adapter, 'GET', f'/resource_providers/{rp}/allocations')
    return (
        provider['name'],
        provider['parent_provider_uuid'],
        inventories['inventories'],
        sorted(call(adapter, 'GET', f'/resource_providers/{rp}/traits')[
            'traits']),
        {c: e['resources'] for c, e in held['allocations'].items()},
    )


def mark_hook(adapter: Any, root: str, mode: str = 'requested') -> None:
    """What nested_pivot's hook keeps on the root of a node whose
    nova-compute runs it, in pivot_mode ``mode``."""
    trait = f'CUSTOM_NESTED_PIVOT_HOOK_{mode.upper()}'
    call(adapter, 'PUT', f'/traits/{trait}')
    add_traits(adapter, root, trait)


def aggregate(adapter: Any, rp: str, uuid: str) -> None:
    """Put a provider into the aggregate ``uuid``, as nova mirrors a host
    aggregate onto its hosts' root providers."""
    current = call(adapter, 'GET', f'/resource_providers/{rp}/aggregates')
    call(adapter, 'PUT', f'/resource_providers/{rp}/aggregates',
         {'aggregates': sorted({*current['aggregates'], uuid}),
          'resource_provider_generation':
              current['resource_provider_generation']})
