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

"""Guards on resource class and trait validation."""

from __future__ import annotations

import os_resource_classes
import os_traits
import pytest

from nested_pivot import names


def test_every_standard_class_is_valid():
    """Fails if validation keeps its own list instead of os-resource-classes:
    a class added upstream must be accepted without a change here."""
    assert all(names.is_valid_resource_class(rc)
               for rc in os_resource_classes.STANDARDS)


def test_every_standard_trait_is_valid():
    """Fails if validation keeps its own list instead of os-traits."""
    assert all(names.is_valid_trait(t) for t in os_traits.get_traits())


@pytest.mark.parametrize('name,ok', [
    ('CUSTOM_GOLD', True), ('CUSTOM_', False), ('CUSTOM_gold', False),
    ('VCPUS', False), ('', False), (None, False), (7, False)])
def test_custom_and_malformed(name, ok):
    assert names.is_valid_resource_class(name) is ok
    assert names.is_valid_trait(name) is ok


def test_physnet_trait_matches_neutron_convention():
    assert names.physnet_trait('physnet-a') == 'CUSTOM_PHYSNET_PHYSNET_A'
