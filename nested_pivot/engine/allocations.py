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

"""Typed consumer records read from nova's allocations dict.

nova's shape::

    {consumer: {"allocations": {rp: {"resources": {rc: n}, ...}},
                "project_id": ..., "user_id": ...,
                "consumer_generation": ..., ["consumer_type": ...]}}
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
from typing import Any

from nested_pivot import exception
from nested_pivot import names

Resources = Mapping[str, int]


@dataclasses.dataclass(frozen=True)
class ConsumerRecord:
    """One consumer's allocations and identity, exactly as given."""

    consumer: str
    allocations: Mapping[str, Resources]
    project_id: str | None = None
    user_id: str | None = None
    consumer_generation: int | None = None
    consumer_type: str | None = None

    def amount(self, provider: str, resource_class: str) -> int:
        return self.allocations.get(provider, {}).get(resource_class, 0)

    def resource_classes(self, providers: Mapping[str, Any]) -> set[str]:
        """Classes this consumer holds on any of ``providers``."""
        return {rc for rp, res in self.allocations.items()
                if rp in providers for rc, n in res.items() if n}


def parse(allocations: Mapping[str, Any]) -> dict[str, ConsumerRecord]:
    """Validate nova's dict and return typed records, by consumer."""
    if not isinstance(allocations, Mapping):
        raise exception.InvalidAllocations(
            reason='expected a mapping of consumer uuid to record')
    _check_keys('consumer', allocations)
    return {c: _record(c, rec) for c, rec in allocations.items()}


def _check_keys(what: str, mapping: Mapping[Any, Any],
                where: str = '') -> None:
    # Keys are written back into the caller's dict as they are: a key that
    # is not a string would fail there, after the tree had changed.
    bad = [k for k in mapping if not isinstance(k, str) or not k]
    if bad:
        raise exception.InvalidAllocations(
            reason=f'{where}{what} keys must be non-empty strings (uuids), '
                   f'not {bad[0]!r}')


def _record(consumer: str, record: Any) -> ConsumerRecord:
    if not isinstance(record, Mapping) or not isinstance(
            record.get('allocations'), Mapping):
        raise exception.InvalidAllocations(
            reason=f'consumer {consumer}: expected a record with an '
                   '"allocations" mapping')
    _check_keys('provider', record['allocations'],
                f'consumer {consumer}: ')
    return ConsumerRecord(
        consumer=consumer,
        allocations={rp: _resources(consumer, rp, entry)
                     for rp, entry in record['allocations'].items()},
        project_id=record.get('project_id'),
        user_id=record.get('user_id'),
        consumer_generation=record.get('consumer_generation'),
        consumer_type=record.get('consumer_type'))


def _resources(consumer: str, provider: str, entry: Any) -> dict[str, int]:
    resources = entry.get('resources') if isinstance(entry, Mapping) else None
    if not isinstance(resources, Mapping):
        raise exception.InvalidAllocations(
            reason=f'consumer {consumer}: provider {provider}: expected '
                   '{"resources": {class: amount}}')
    for rc, amount in resources.items():
        if not names.is_valid_resource_class(rc):
            raise exception.InvalidAllocations(
                reason=f'consumer {consumer}: provider {provider}: unknown '
                       f'or malformed resource class {rc!r}')
        if (not isinstance(amount, int) or isinstance(amount, bool)
                or amount < 0):
            raise exception.InvalidAllocations(
                reason=f'consumer {consumer}: provider {provider}: {rc} '
                       f'amount must be a non-negative integer, '
                       f'not {amount!r}')
    return dict(resources)
