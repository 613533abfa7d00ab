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

"""The wire format of ``POST /reshaper``: a plan as Placement reads it.

Pure, beside the plan: the engine builds the body, the Placement layer
sends it.
"""

from __future__ import annotations

from typing import Any
from typing import TYPE_CHECKING

from nested_pivot import exception
from nested_pivot import microversion

if TYPE_CHECKING:
    from nested_pivot.engine import ConsumerRecord
    from nested_pivot.engine import ProviderInventory
    from nested_pivot.engine import ReshapePlan


def reshape_body(plan: ReshapePlan, version: microversion.VersionLike
                 ) -> dict[str, Any]:
    """The POST /reshaper body of ``plan`` at ``version`` (1.30 to 1.39).

    :raises UnsupportedMicroversion: outside the reshaper's versions.
    :raises MissingConsumerType: from 1.38 on, for untyped consumers.
    """
    wanted = microversion.parse(version)
    if not microversion.supports_reshaper(wanted):
        raise exception.UnsupportedMicroversion(
            version=microversion.text(wanted),
            minimum=microversion.text(microversion.RESHAPER),
            maximum=microversion.text(microversion.NEWEST_KNOWN))
    with_type = wanted >= microversion.CONSUMER_TYPE
    if with_type:
        _check_consumer_types(plan, wanted)
    return {
        'inventories': {u: provider_body(p)
                        for u, p in plan.inventories.items()},
        'allocations': {c: consumer_body(r, with_type)
                        for c, r in sorted(plan.allocations.items())},
    }


def untyped(record: ConsumerRecord) -> bool:
    """A record read without its type, or one nova wrote without it."""
    return not record.consumer_type or record.consumer_type == 'unknown'


def provider_body(provider: ProviderInventory) -> dict[str, Any]:
    # A provider created by this pivot starts at generation 0.
    return {'resource_provider_generation': provider.generation or 0,
            'inventories': {rc: inv.as_dict() for rc, inv
                            in sorted(provider.inventory.items())}}


def consumer_body(record: ConsumerRecord, with_type: bool
                  ) -> dict[str, Any]:
    missing = [k for k in ('project_id', 'user_id')
               if getattr(record, k) is None]
    if missing:
        raise exception.InvalidAllocations(
            reason=f'consumer {record.consumer}: {" and ".join(missing)} '
                   'needed to write its allocations')
    body: dict[str, Any] = {
        'allocations': {rp: {'resources': {rc: n for rc, n
                                           in sorted(res.items()) if n}}
                        for rp, res in sorted(record.allocations.items())
                        if any(res.values())},
        'project_id': record.project_id,
        'user_id': record.user_id,
        'consumer_generation': record.consumer_generation,
    }
    if with_type:
        body['consumer_type'] = record.consumer_type
    return body


def _check_consumer_types(plan: ReshapePlan,
                          version: microversion.Version) -> None:
    missing = sorted(c for c, r in plan.allocations.items() if untyped(r))
    if missing:
        raise exception.MissingConsumerType(
            version=microversion.text(version),
            consumers=', '.join(missing))
