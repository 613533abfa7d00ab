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

"""``audit --fix``: remove what the audit found, one consumer at a time,
each through a consumer-generation-guarded write (nova's guarded delete:
``GET /allocations/{c}``, then ``PUT`` with the generation read).

Only the providers a finding names as removable are cleared; the
consumer's allocations on every other provider (foreign ones in the tree,
sharing providers, other hosts) are written back as they were.  A
consumer that changed since the audit read it, or that nova has taken
back, is left alone and reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nested_pivot import exception
from nested_pivot import microversion
from nested_pivot.audit import model
from nested_pivot.audit.model import Finding
from nested_pivot.audit.model import Fixed
from nested_pivot.audit.model import FixOutcome
from nested_pivot.audit.model import NodeAudit
from nested_pivot.novadb.consumers import NovaConsumers
from nested_pivot.placement.http import PlacementClient

CONSUMER = microversion.PROVIDER_ALLOCATIONS_GENERATIONS
"""Below consumer types: every consumer's type stays as it is."""


def fix_node(client: PlacementClient, audit: NodeAudit,
             nova: NovaConsumers, *, unknown_fixable: bool
             ) -> tuple[FixOutcome, ...]:
    """Remove the fixable findings of ``audit``; the others are left
    alone, each with its reason."""
    outcomes = []
    for found in audit.findings:
        if not found.fixable:
            outcomes.append(FixOutcome(found.consumer, Fixed.LEFT,
                                       found.why_not))
            continue
        try:
            outcomes.append(_fix_one(client, audit, found, nova,
                                     unknown_fixable))
        except exception.PlacementError as err:
            outcomes.append(FixOutcome(found.consumer, Fixed.FAILED,
                                       ' '.join(str(err).split())))
    return tuple(outcomes)


def _fix_one(client: PlacementClient, audit: NodeAudit, found: Finding,
             nova: NovaConsumers, unknown_fixable: bool) -> FixOutcome:
    consumer = found.consumer
    url = f'/allocations/{consumer}'
    # Order matters: read the consumer, then ask nova again, then write
    # with the generation read.  A consumer written since the audit read
    # it is left alone; so is one nova has taken back since (its boot
    # reached its cell, a move started): nova is asked after Placement,
    # so a boot whose claim this read saw is seen there.  A write that
    # lands between this read and the PUT makes Placement refuse the PUT
    # (409), and the consumer is left alone too.
    body = client.get(url, CONSUMER)
    allocations = _resources(body.get('allocations') or {})
    if not allocations:
        return FixOutcome(consumer, Fixed.GONE,
                          'its allocations were gone when read again')
    on_tree = {p: r for p, r in allocations.items() if p in audit.names}
    if (body.get('consumer_generation') != found.generation
            or on_tree != _clean(found.held)):
        return FixOutcome(consumer, Fixed.LEFT,
                          'it changed since the audit read it')
    taken = _taken_back(audit, found, nova, unknown_fixable)
    if taken:
        return FixOutcome(consumer, Fixed.LEFT, taken)
    kept = {p: r for p, r in allocations.items() if p not in found.removable}
    removed = {p: r for p, r in allocations.items() if p in found.removable}
    resp = client.request('PUT', url, json={
        'allocations': {p: {'resources': r} for p, r in sorted(kept.items())},
        'project_id': body['project_id'], 'user_id': body['user_id'],
        'consumer_generation': body['consumer_generation']},
        version=CONSUMER)
    done = FixOutcome(consumer, Fixed.REMOVED, removed=removed, kept=kept)
    if resp.status == 409:
        # Sent twice (the first answer lost), the second refused: the
        # first may be the write Placement saw.
        if resp.retried and _landed(client, url, kept):
            return done
        return FixOutcome(consumer, Fixed.LEFT,
                          f'it changed meanwhile: Placement refused the '
                          f'write ({resp.detail})')
    if not resp.ok:
        raise resp.error()
    return done


def _taken_back(audit: NodeAudit, found: Finding, nova: NovaConsumers,
                unknown_fixable: bool) -> str:
    """Why nova's word on the consumer, asked again, forbids removing it
    now; '' when it does not."""
    node = nova.node(audit.node)
    if node is None:
        return f'nova no longer has the compute node {audit.node}'
    if found.consumer in node.protected:
        return ('nova now has it as a live instance of the node or part '
                'of a move in progress')
    again = model.finding(found.consumer, found.held, found.generation,
                          nova.look_up([found.consumer])[found.consumer],
                          node, found.removable,
                          unknown_fixable=unknown_fixable)
    if not again.fixable:
        return f'nova now says: {again.said}; {again.why_not}'
    return ''


def _landed(client: PlacementClient, url: str,
            kept: Mapping[str, Mapping[str, int]]) -> bool:
    """A PUT that was sent twice and refused the second time: did the
    first land?"""
    body = client.get(url, CONSUMER)
    return _resources(body.get('allocations') or {}) == _clean(kept)


def _resources(allocations: Mapping[str, Any]
               ) -> dict[str, dict[str, int]]:
    return {p: dict(e['resources']) for p, e in allocations.items()
            if e.get('resources')}


def _clean(held: Mapping[str, Mapping[str, int]]
           ) -> dict[str, dict[str, int]]:
    return {p: {rc: n for rc, n in r.items() if n}
            for p, r in held.items() if any(r.values())}
