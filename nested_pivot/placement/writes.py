"""Write a plan to Placement: classes, traits, children, one reshape."""

from __future__ import annotations

import urllib.parse

from nested_pivot import engine
from nested_pivot import exception
from nested_pivot import microversion
from nested_pivot import names
from nested_pivot.placement import snapshot as snap
from nested_pivot.placement.http import PlacementClient
from nested_pivot.placement.http import RESHAPE_POLICY
from nested_pivot.placement.http import Response

CONCURRENT_UPDATE = 'placement.concurrent_update'
TRAITS_VERSION = '1.20'


class Conflict(Exception):
    """Placement saw a concurrent change: re-read, re-plan, retry."""


def apply(client: PlacementClient, state: snap.NodeSnapshot,
          plan: engine.ReshapePlan) -> None:
    # Order matters. Custom classes and traits must exist before anything
    # names them; children before the reshape moves inventory onto them;
    # child traits after it (the reshape bumps their generations); emptied
    # children are deleted last, once the reshape has removed their
    # inventory and allocations. A failure before the reshape leaves only
    # empty children, which the next run finds and reuses.
    ensure_custom_names(client, plan)
    create_children(client, plan)
    if plan.inventories:
        reshape(client, plan)
    set_child_traits(client, plan)
    delete_removed(client, plan)


def ensure_custom_names(client: PlacementClient,
                        plan: engine.ReshapePlan) -> None:
    classes = {rc for p in plan.inventories.values() for rc in p.inventory}
    traits = {t for change in plan.traits.values() for t in change.add}
    for rc in sorted(filter(names.is_custom, classes)):
        _expect(client.request('PUT', f'/resource_classes/{rc}',
                               version='1.7'))
    for trait in sorted(filter(names.is_custom, traits)):
        _expect(client.request('PUT', f'/traits/{trait}', version='1.6'))


def create_children(client: PlacementClient,
                    plan: engine.ReshapePlan) -> None:
    for child in plan.created:  # parents first
        resp = client.request('POST', '/resource_providers', json={
            'name': child.name, 'uuid': child.uuid,
            'parent_provider_uuid': child.parent}, version='1.20')
        if resp.status == 409:
            _creation_conflict(client, plan, child.name, resp.detail)
        _expect(resp)


def _creation_conflict(client: PlacementClient, plan: engine.ReshapePlan,
                       name: str, detail: str) -> None:
    """A name taken outside the node is an error; anything else (another
    attempt created the child meanwhile) is a conflict to re-read."""
    found = client.get('/resource_providers?name='
                       + urllib.parse.quote(name), '1.20')
    for provider in found.get('resource_providers', []):
        if provider['root_provider_uuid'] != plan.root:
            raise exception.ProviderNameClash(
                method='POST', url='/resource_providers', status=409,
                name=name, node=plan.node, uuid=provider['uuid'])
    raise Conflict(f'creating {name}: {detail}')


def reshape(client: PlacementClient, plan: engine.ReshapePlan) -> None:
    """The one atomic POST /reshaper."""
    version = client.version()
    if _untyped(plan):
        # Records read without their type (or with none, as nova writes
        # them) go at 1.37, which leaves every consumer's type be.
        version = microversion.untyped(version)
    resp = client.request('POST', '/reshaper',
                          json=plan.request_body(version), version=version)
    if resp.ok:
        return
    if resp.status == 409 and resp.error_code == CONCURRENT_UPDATE:
        raise Conflict(resp.detail)
    if resp.status == 403:
        raise exception.PermissionDenied(
            method='POST', url='/reshaper', status=403,
            error_code=resp.error_code or '', policy=RESHAPE_POLICY,
            detail=resp.detail)
    raise exception.ReshapeRejected(
        method='POST', url='/reshaper', status=resp.status,
        error_code=resp.error_code or '', node=plan.node,
        detail=resp.detail)


def _untyped(plan: engine.ReshapePlan) -> bool:
    return any(not r.consumer_type or r.consumer_type == 'unknown'
               for r in plan.allocations.values())


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
    for _ in range(client.max_retries + 1):
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
        attempts=client.max_retries + 1,
        detail='the traits of the provider kept changing')


def delete_removed(client: PlacementClient,
                   plan: engine.ReshapePlan) -> None:
    for uuid in plan.removed:  # children before parents
        resp = client.request('DELETE', f'/resource_providers/{uuid}',
                              version='1.20')
        if resp.status != 404:
            _expect(resp)


def _expect(resp: Response) -> None:
    if not resp.ok:
        raise resp.error()
