"""Validation of resource class and trait names.

The standard names come from os-resource-classes and os-traits; this module
keeps no list of its own.  Custom names follow placement's pattern.
"""

from __future__ import annotations

import functools
import re

import os_resource_classes
import os_traits

_CUSTOM = re.compile(r'^CUSTOM_[A-Z0-9_]+$')


@functools.cache
def _standard_traits() -> frozenset[str]:
    return frozenset(os_traits.get_traits())


def is_valid_resource_class(name: object) -> bool:
    """True if ``name`` is a standard or well-formed custom class."""
    if not isinstance(name, str):
        return False
    return name in os_resource_classes.STANDARDS or bool(_CUSTOM.match(name))


def is_valid_trait(name: object) -> bool:
    """True if ``name`` is a standard or well-formed custom trait."""
    if not isinstance(name, str):
        return False
    return name in _standard_traits() or bool(_CUSTOM.match(name))


def is_custom(name: str) -> bool:
    return name.startswith('CUSTOM_')


PHYSNET_TRAITS = 'CUSTOM_PHYSNET_*'
"""The pattern of every physnet trait."""


def physnet_trait(physnet: str) -> str:
    """The trait neutron gives a physical network: CUSTOM_PHYSNET_<NAME>."""
    return str(os_traits.normalize_name('PHYSNET_' + physnet))
