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

"""Write a plan to Placement: classes, traits, children, one reshape.

Each function is one step; :mod:`nested_pivot.placement.operations` runs
them in their order.
"""

from __future__ import annotations

import urllib.parse

from nested_pivot import engine
from nested_pivot import exception
from nested_pivot import microversion
from nested_pivot import names
from nested_pivot.engine import body
from nested_pivot.placement import read
from nested_pivot.placement.http import PlacementClient
from nested_pivot.placement.http import RESHAPE_POLICY
from nested_pivot.placement.http import Response

CONCURRENT_UPDATE = 'placement.concurrent_update'
INVALID_INVENTORY = 'Unable to allocate inventory: Inventory for '
"""Placement's 409 when an allocation meets no inventory of its class."""
TRAITS_VERSION = microversion.PROVIDERS


def ensure_custom_names(client: PlacementClient,
                        plan: engine.ReshapePlan) -> None:
    classes = {rc for p in plan.inventories.values() for rc in p.inventory}
    traits = {t for change in plan.traits.values() for t in change.add}
    for rc in sorted(filter(names.is_custom, classes)):
        _expect(client.request('PUT', f'/resource_classes/{rc}',
                               version=microversion.RESOURCE_CLASS_PUT))
    for trait in sorted(filter(names.is_custom, traits)):
        ensure_trait(client, trait)


def ensure_trait(client: PlacementClient, trait: str) -> None:
    """Create custom ``trait`` unless it exists."""
    _expect(client.request('PUT', f'/traits/{trait}',
                           version=microversion.TRAITS_PUT))


def check_children(client: PlacementClient,
                   plan: engine.ReshapePlan) -> None:
    """Before anything is written: is each child to create free to be
    created, its uuid and its name (as the database compares names) taken
    by no provider outside the node?

    :raises ProviderUuidClash, ProviderNameClash: naming the provider
        that holds it.
    :raises NodeChanged: a provider of the node holds it (another writer
        created the child since the node was read).
    """
    for child in plan.created:
        _check_free(client, plan, child)


def create_children(client: PlacementClient,
                    plan: engine.ReshapePlan) -> None:
    for child in plan.created:  # parents first
        resp = client.request('POST', '/resource_providers', json={
            'name': child.name, 'uuid': child.uuid,
            'parent_provider_uuid': child.parent},
            version=microversion.PROVIDERS)
        if resp.status == 409:
            _check_free(client, plan, child, answered=409)
            raise exception.NodeChanged(
                f'creating {child.name}: {resp.detail}')
        _expect(resp)


def rename(client: PlacementClient, plan: engine.ReshapePlan) -> None:
    """Give renamed children their new names, in place: same uuid, same
    parent, inventory and allocations (a rename changes no generation).

    Every new name is checked free first, so that a name taken outside
    the node renames nothing."""
    for uuid, name in sorted(plan.renamed.items(), key=lambda i: i[1]):
        _taken_outside(client, plan, name, 'rename a child to',
                       ('PUT', f'/resource_providers/{uuid}'))
    for uuid, name in sorted(plan.renamed.items()):
        resp = client.request('PUT', f'/resource_providers/{uuid}',
                              json={'name': name},
                              version=microversion.PROVIDERS)
        if resp.status == 409:
            _creation_conflict(client, plan, uuid, name, resp.detail)
        _expect(resp)


def reparent(client: PlacementClient, plan: engine.ReshapePlan) -> None:
    """Move children under their new parents, parents first (1.37)."""
    for uuid, parent in plan.reparented.items():
        name = plan.after.providers[uuid].name
        resp = client.request('PUT', f'/resource_providers/{uuid}', json={
            'name': name, 'parent_provider_uuid': parent},
            version=microversion.REPARENT)
        if resp.status == 409:
            raise exception.NodeChanged(
                f'moving {name} under {parent}: {resp.detail}')
        _expect(resp)


def _check_free(client: PlacementClient, plan: engine.ReshapePlan,
                child: engine.Provider, answered: int | None = None
                ) -> None:
    """A child's uuid or name taken outside the node is an error, named;
    taken inside it (another attempt created the child meanwhile), a
    conflict to re-read.  ``answered`` is the status Placement gave the
    POST, when it was sent: before it, the error has none."""
    resp = client.request('GET', f'/resource_providers/{child.uuid}',
                          version=microversion.PROVIDERS)
    if resp.ok:
        if resp.body['root_provider_uuid'] != plan.root:
            raise exception.ProviderUuidClash(
                method='POST', url='/resource_providers', status=answered,
                name=child.name, node=plan.node, uuid=child.uuid,
                other=f'{resp.body["name"]}'
                      f'{_of_node(client, resp.body)}')
        raise exception.NodeChanged(f'{child.name} was created meanwhile')
    if resp.status != 404:
        raise resp.error()
    held = _taken_outside(client, plan, child.name, answered=answered)
    if held is not None:
        raise exception.NodeChanged(
            f'{child.name}: {held["name"]} was created meanwhile')


def _creation_conflict(client: PlacementClient, plan: engine.ReshapePlan,
                       uuid: str, name: str, detail: str) -> None:
    """A name taken outside the node is an error; anything else (another
    attempt renamed a child meanwhile) is a conflict to re-read."""
    _taken_outside(client, plan, name, 'rename a child to',
                   ('PUT', f'/resource_providers/{uuid}'), answered=409)
    raise exception.NodeChanged(f'renaming to {name}: {detail}')


def _taken_outside(client: PlacementClient, plan: engine.ReshapePlan,
                   name: str, doing: str = 'create child',
                   request: tuple[str, str] = ('POST', '/resource_providers'),
                   answered: int | None = None) -> dict[str, str] | None:
    """The provider of the node that holds ``name``, if one does.

    :raises ProviderNameClash: a provider outside the node holds it,
        for ``request`` (method, URL), with the status Placement
        ``answered`` it, if it was sent.
    """
    # On MariaDB the name filter compares as the unique index does: it
    # finds a name that differs only in case, accents or trailing spaces.
    found = client.get('/resource_providers?name='
                       + urllib.parse.quote(name), microversion.PROVIDERS)
    held = None
    for provider in found['resource_providers']:
        if provider['root_provider_uuid'] != plan.root:
            raise exception.ProviderNameClash(
                method=request[0], url=request[1], status=answered,
                name=name, node=plan.node, uuid=provider['uuid'],
                message=_name_clash(plan, name, provider, doing))
        held = provider
    return held


def _name_clash(plan: engine.ReshapePlan, name: str,
                provider: dict[str, str], doing: str) -> str:
    same = provider['name'] == name
    what = ('the name is taken' if same else
            f'the database takes the name for {provider["name"]!r} (they '
            f'differ only in case, accents or trailing spaces)')
    return (f'Cannot {doing} {name} of node {plan.node}: {what}, by '
            f'provider {provider["uuid"]}, which is not part of the node.')


def _of_node(client: PlacementClient, provider: dict[str, str]) -> str:
    root = provider['root_provider_uuid']
    if root == provider['uuid']:
        return f' ({provider["uuid"]}, a root provider)'
    found = client.request('GET', f'/resource_providers/{root}',
                           version=microversion.PROVIDERS)
    name = found.body['name'] if found.ok else root
    return f' ({provider["uuid"]}), of node {name}'


def reshape(client: PlacementClient, plan: engine.ReshapePlan) -> None:
    """The one atomic POST /reshaper."""
    if client.database is not None:
        # Offline: through Placement's own reshaper, in this process.
        resp = client.database.reshape(plan)
    else:
        resp = _post_reshaper(client, plan)
    if resp.ok:
        return
    if resp.status == 409 and resp.error_code == CONCURRENT_UPDATE:
        raise exception.NodeChanged(resp.detail, maybe_applied=resp.retried)
    if resp.status == 409 and INVALID_INVENTORY in resp.detail:
        # The body gives every provider it allocates on the inventory of
        # each class allocated there.  Placement answers this when, on
        # MySQL or MariaDB, InnoDB rolled the reshape back for a deadlock
        # and Placement retried its allocation writes alone (oslo.db's
        # wrap_db_retry), without the interim inventories: nothing was
        # written, and the reshape is to be redone whole.
        raise exception.NodeChanged(
            f'{resp.detail} (a reshape Placement redid in part after a '
            f'database deadlock)', maybe_applied=resp.retried)
    if resp.status == 400 and _changed(client, plan):
        # Placement answers a reshape that raced another writer's with 400
        # ("No inventory of class VCPU found"), not only with 409.  The
        # transaction was rolled back either way: when the node changed
        # since it was read, it is a conflict to re-read.
        raise exception.NodeChanged(
            f'{resp.detail} (the node changed meanwhile)',
            maybe_applied=resp.retried)
    if resp.status == 403:
        raise exception.PermissionDenied(
            method='POST', url='/reshaper', status=403,
            error_code=resp.error_code or '', policy=RESHAPE_POLICY,
            detail=resp.detail)
    raise exception.ReshapeRejected(
        method='POST', url='/reshaper', status=resp.status,
        error_code=resp.error_code or '', node=plan.node,
        detail=resp.detail)


def _post_reshaper(client: PlacementClient, plan: engine.ReshapePlan
                   ) -> Response:
    version = client.version()
    if any(map(body.untyped, plan.allocations.values())):
        # Records read without their type (or with none, as nova writes
        # them) go at 1.37, which leaves every consumer's type be.
        version = microversion.untyped(version)
    return client.request('POST', '/reshaper',
                          json=body.reshape_body(plan, version),
                          version=version)


def _changed(client: PlacementClient, plan: engine.ReshapePlan) -> bool:
    """Is any provider the reshape writes at another generation than the
    one it was planned at?"""
    now = read.generations(client, plan.root)
    return any(now.get(uuid) != (entry.generation or 0)
               for uuid, entry in plan.inventories.items())


def strays(client: PlacementClient, plan: engine.ReshapePlan
           ) -> list[str]:
    """Consumers that hold, after the reshape, a class a provider no
    longer offers: a claim Placement accepted against the inventory the
    reshape removed (seen on MariaDB, whose retried claim checked an older
    snapshot).  Their names, for the message."""
    found = []
    for uuid, entry in plan.inventories.items():
        gone = (set(plan.before.providers[uuid].inventory)
                - set(entry.inventory)) if uuid in plan.before.providers \
            else set()
        if not gone:
            continue
        if client.database is not None:
            held = client.database.holders(uuid, gone)
            found += [f'{c} ({", ".join(sorted(held[c]))} on {entry.name})'
                      for c in sorted(held)]
            continue
        body = client.get(f'/resource_providers/{uuid}/allocations',
                          microversion.PROVIDER_ALLOCATIONS_GENERATIONS)
        found += [f'{c} ({", ".join(sorted(set(a["resources"]) & gone))} '
                  f'on {entry.name})'
                  for c, a in sorted(body['allocations'].items())
                  if set(a['resources']) & gone]
    return found


def set_child_traits(client: PlacementClient,
                     plan: engine.ReshapePlan) -> None:
    """Add and remove the layout's traits on its children; every other
    trait on them (an operator's) stays."""
    for uuid, change in sorted(plan.traits.items()):
        put_traits(client, uuid, change, node=plan.node)


def put_traits(client: PlacementClient, uuid: str,
               change: engine.TraitChange, *, node: str) -> bool:
    """Apply ``change`` to a provider's traits as Placement holds them now,
    re-reading on a generation conflict.  True if anything was written.

    :raises ConcurrentUpdate: every attempt met a conflict.
    """
    url = f'/resource_providers/{uuid}/traits'
    for _ in range(client.conflict_retries + 1):
        body = client.get(url, TRAITS_VERSION)
        current = frozenset(body['traits'])
        wanted = change.applied(current)
        if wanted == current:
            return False
        resp = client.request('PUT', url, json={
            'traits': sorted(wanted),
            'resource_provider_generation':
                body['resource_provider_generation']},
            version=TRAITS_VERSION)
        if resp.status != 409:
            _expect(resp)
            return True
    raise exception.ConcurrentUpdate(
        method='PUT', url=url, status=409, node=node,
        attempts=client.conflict_retries + 1,
        detail='the traits of the provider kept changing')


def delete_removed(client: PlacementClient,
                   plan: engine.ReshapePlan) -> None:
    for uuid in plan.removed:  # children before parents
        resp = client.request('DELETE', f'/resource_providers/{uuid}',
                              version=microversion.PROVIDERS)
        if resp.status != 404:
            _expect(resp)


def _expect(resp: Response) -> None:
    if not resp.ok:
        raise resp.error()
