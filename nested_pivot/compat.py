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

"""What differs between the OpenStack releases nested_pivot runs beside,
in one place (the support matrix: ``doc/source/admin/releases.rst``).

From 2024.1 (nova 29, Placement 11) to the newest, Placement's API is the
same where nested_pivot uses it (every release serves up to microversion
1.39, :mod:`nested_pivot.microversion`), and so are ``placement.direct``,
``placement.db_api`` and the nova objects and options that
:mod:`nested_pivot.novadb` reads.  What differs is the libraries of each
release: os-traits knows fewer traits in older ones.  And the oldest
Python nested_pivot supports, 3.10, has no ``enum.StrEnum``.
"""

from __future__ import annotations

from collections.abc import Mapping
import enum

import os_traits


def known_traits(wanted: Mapping[str, str]) -> dict[str, str]:
    """The entries of ``wanted`` (any key -> a standard trait's name)
    whose trait the installed os-traits has.

    A trait newer than the release's os-traits is unknown to its Placement
    too (Placement makes its standard traits from os-traits), so nothing
    can carry it there: HW_CPU_X86_AMD_SEV_ES is not in os-traits 3.0
    (2024.1), HW_CPU_X86_AMD_SEV_SNP and HW_CPU_X86_INTEL_TDX are not in
    3.3 (2025.1).
    """
    standard = frozenset(os_traits.get_traits())
    return {key: trait for key, trait in wanted.items() if trait in standard}


class StrEnum(str, enum.Enum):
    """An enum whose members are their values, printed as them (Python
    3.11's ``enum.StrEnum``, which 3.10 lacks): the states and results
    the commands print and write as JSON."""

    def __str__(self) -> str:
        return str(self.value)
