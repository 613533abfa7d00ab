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


"""Words for messages: counts of things, and an error on one line.

Every layer's messages use these (nova's facts' summary, the journal's
results, the command's reports), so a count reads the same everywhere.
"""

from __future__ import annotations

from nested_pivot import dburl


def plural(count: int, noun: str) -> str:
    """``1 node``, ``2 nodes``, ``3 inconsistencies``."""
    if count == 1:
        return f'1 {noun}'
    if noun.endswith('y'):
        return f'{count} {noun[:-1]}ies'
    return f'{count} {noun}s'


def one_line(err: BaseException) -> str:
    """The error in one line, any password in it masked."""
    return dburl.mask(' '.join(str(err).split()))
