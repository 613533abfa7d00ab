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

"""What differs between releases: run in every release's env (tox -e
py3, nova, nova-2024.1, nova-2025.1), each with its own os-traits."""

from __future__ import annotations

import os_traits
import pytest

from nested_pivot import compat
from nested_pivot import exception
from nested_pivot import layouts


def test_known_traits_leaves_out_what_this_os_traits_lacks():
    found = compat.known_traits({'sev': 'HW_CPU_X86_AMD_SEV',
                                 'future': 'HW_CPU_X86_NOT_YET_A_TRAIT'})
    assert found == {'sev': 'HW_CPU_X86_AMD_SEV'}


def test_memory_encryption_models_are_those_of_this_os_traits():
    standard = set(os_traits.get_traits())
    assert set(layouts.MEMORY_ENCRYPTION_TRAITS.values()) <= standard
    # SEV is in every supported release (os-traits 3.0 and newer).
    assert layouts.MEMORY_ENCRYPTION_TRAITS['amd_sev'] == \
        os_traits.HW_CPU_X86_AMD_SEV
    for model, trait in (('amd_sev_es', 'HW_CPU_X86_AMD_SEV_ES'),
                         ('amd_sev_snp', 'HW_CPU_X86_AMD_SEV_SNP'),
                         ('intel_tdx', 'HW_CPU_X86_INTEL_TDX')):
        assert (model in layouts.MEMORY_ENCRYPTION_TRAITS) == \
            (trait in standard), model


def test_a_model_this_os_traits_lacks_is_refused_by_name():
    missing = sorted({'amd_sev_es', 'amd_sev_snp', 'intel_tdx'}
                     - set(layouts.MEMORY_ENCRYPTION_TRAITS))
    if not missing:
        pytest.skip('this os-traits has every model\'s trait')
    with pytest.raises(exception.InvalidLayout,
                       match=f"model '{missing[0]}' has no known trait"):
        layouts.sev(4, name=missing[0])
