"""``nested-pivot request NODE...``: ask for a pivot at the next restart.

For nodes whose nova-compute runs with ``[nested_pivot] pivot_mode =
requested``: the request is a trait on the node's root provider, so it
lives in Placement where both this tool and the compute see it.
"""

from __future__ import annotations

import argparse
from typing import Any

from nested_pivot import exception
from nested_pivot.cmd.codes import Code
from nested_pivot.cmd.context import Context
from nested_pivot.conf.compute import REQUEST_TRAIT
from nested_pivot.placement import PlacementClient
from nested_pivot.placement import snapshot


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        'request', parents=[common],
        help='mark nodes to pivot at their next nova-compute restart '
             '(pivot_mode = requested)')
    parser.add_argument('nodes', metavar='NODE', nargs='+')
    parser.add_argument('--cancel', action='store_true',
                        help='withdraw the request')
    parser.set_defaults(run=run)


def run(ctx: Context) -> Code:
    with ctx.client() as client:
        client.version()
        _ensure_trait(client)
        done = []
        for node in ctx.args.nodes:
            uuid, name = snapshot.find_node(client, node)
            set_request(client, uuid, not ctx.args.cancel)
            done.append({'node': name, 'uuid': uuid,
                         'requested': not ctx.args.cancel})
            if not ctx.args.json:
                ctx.print(_said(name, ctx.args.cancel))
    if ctx.args.json:
        ctx.emit({'nodes': done})
    return Code.SUCCESS


def _said(name: str, cancelled: bool) -> str:
    if cancelled:
        return (f'{name}: request withdrawn; a node already pivoted stays '
                'pivoted (use rollback).')
    return (f'{name}: pivot requested. It happens at the next restart of '
            f'nova-compute on {name}; a running nova-compute does not pick '
            'it up before.')


def _ensure_trait(client: PlacementClient) -> None:
    resp = client.request('PUT', f'/traits/{REQUEST_TRAIT}', version='1.6')
    if not resp.ok:
        raise resp.error()


def set_request(client: PlacementClient, uuid: str, wanted: bool) -> None:
    """Add or remove the request trait, re-reading on conflicts."""
    for _ in range(client.max_retries + 1):
        body = client.get(f'/resource_providers/{uuid}/traits')
        traits = set(body['traits'])
        if (REQUEST_TRAIT in traits) == wanted:
            return
        traits ^= {REQUEST_TRAIT}
        resp = client.request(
            'PUT', f'/resource_providers/{uuid}/traits',
            json={'traits': sorted(traits),
                  'resource_provider_generation':
                      body['resource_provider_generation']})
        if resp.ok:
            return
        if resp.status != 409:
            raise resp.error()
    raise exception.ConcurrentUpdate(
        method='PUT', url=f'/resource_providers/{uuid}/traits', status=409,
        node=uuid, attempts=client.max_retries + 1, detail='')
