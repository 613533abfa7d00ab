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

"""Error code symbols carried by every nested_pivot exception.

Each code is a fixed string that tools and logs can match on, in the style
of placement's own ``errors.py``.  There must be exactly one constant per
string value; never reuse a value for a different condition.
"""

DEFAULT = 'nested_pivot.undefined_code'
INVALID_LAYOUT = 'nested_pivot.layout.invalid'
LAYOUT_FILE_INVALID = 'nested_pivot.layout_file.invalid'
NO_TARGET_PROVIDER = 'nested_pivot.layout.no_target_provider'
DEVICE_ALLOCATION_STRANDED = 'nested_pivot.layout.device_allocation_stranded'
FOREIGN_PROVIDER = 'nested_pivot.layout.foreign_provider'
INVALID_HINT = 'nested_pivot.hint.invalid'
INVALID_NODE_NAME = 'nested_pivot.node_name.invalid'
INVALID_ALLOCATIONS = 'nested_pivot.allocations.invalid'
INVALID_TREE = 'nested_pivot.tree.invalid'
CANNOT_PIVOT = 'nested_pivot.cannot_pivot'
INVENTORY_BELOW_USAGE = 'nested_pivot.cannot_pivot.inventory_below_usage'
UNSUPPORTED_MICROVERSION = 'nested_pivot.microversion.unsupported'
MISSING_CONSUMER_TYPE = 'nested_pivot.allocations.missing_consumer_type'
PLACEMENT_TOO_OLD = 'nested_pivot.placement.too_old'
PLACEMENT_UNAVAILABLE = 'nested_pivot.placement.unavailable'
PLACEMENT_ERROR = 'nested_pivot.placement.error'
AUTHENTICATION_FAILED = 'nested_pivot.placement.authentication_failed'
PERMISSION_DENIED = 'nested_pivot.placement.permission_denied'
RESHAPE_REJECTED = 'nested_pivot.placement.reshape_rejected'
CONCURRENT_UPDATE = 'nested_pivot.placement.concurrent_update'
NODE_CHANGED = 'nested_pivot.placement.node_changed'
TRANSIENT_FAILURE = 'nested_pivot.placement.transient_failure'
NODE_NOT_FOUND = 'nested_pivot.placement.node_not_found'
PROVIDER_NAME_CLASH = 'nested_pivot.placement.provider_name_clash'
PROVIDER_UUID_CLASH = 'nested_pivot.placement.provider_uuid_clash'
MALFORMED_ANSWER = 'nested_pivot.placement.malformed_answer'
ROLLBACK_INCOMPLETE = 'nested_pivot.rollback.incomplete'
RESHAPE_NEEDED = 'nested_pivot.nova.reshape_needed'
RESHAPE_FAILED = 'nested_pivot.nova.reshape_failed'
JOURNAL_ERROR = 'nested_pivot.journal.error'
ACCESS_ERROR = 'nested_pivot.cli.access'
NODE_SELECTION = 'nested_pivot.cli.node_selection'
DISCOVERY_ERROR = 'nested_pivot.discover.error'
UNSAFE_ONLINE = 'nested_pivot.online.unsafe'
NOVA_FACTS = 'nested_pivot.nova_db.error'
FACTS_REFUSED = 'nested_pivot.nova_db.facts_refused'
BAD_NOVA_ROW = 'nested_pivot.nova_db.bad_row'
