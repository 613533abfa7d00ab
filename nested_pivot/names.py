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

"""Validation of resource class and trait names.

The standard names come from os-resource-classes and os-traits; this module
keeps no list of its own.  Custom names follow placement's pattern.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import os_resource_classes
import os_traits

from nested_pivot import exception

_CUSTOM = re.compile(r'^CUSTOM_[A-Z0-9_]+$')
_PCI_ADDRESS = re.compile(r'^([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2})'
                          r'\.([0-7])$')

MAX_PROVIDER_NAME = 200
"""The longest resource provider name Placement accepts."""


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


def name_problem(name: str) -> str | None:
    """What in ``name`` no supported database can store in a provider
    name, or None: a NUL (PostgreSQL refuses it), a lone surrogate (no
    UTF-8 can encode it)."""
    for i, ch in enumerate(name):
        if ch == '\0':
            return f'it holds a NUL character (at {i}), which PostgreSQL ' \
                   f'cannot store'
        if '\ud800' <= ch <= '\udfff':
            return (f'it holds a lone surrogate ({ch!r} at {i}), which no '
                    f'database can store as UTF-8')
    return None


def child_name_problem(name: str) -> str | None:
    """What makes ``name`` a bad short name for a child, or None: what
    :func:`name_problem` refuses, control characters (they would be
    written to terminals and logs as they are), and characters beyond
    the Basic Multilingual Plane, which a MariaDB with ``utf8mb3`` tables
    cannot store."""
    found = name_problem(name)
    if found:
        return found
    for i, ch in enumerate(name):
        if unicodedata.category(ch) == 'Cc':
            return f'it holds a control character ({ch!r} at {i})'
        if ord(ch) > 0xFFFF:
            return (f'it holds {ch!r} (at {i}), beyond the Basic '
                    f'Multilingual Plane, which MariaDB tables in utf8mb3 '
                    f'cannot store')
    return None


def collation_keys(name: str) -> frozenset[str]:
    """Forms of ``name`` under which MariaDB's default collations
    (``utf8mb4_general_ci``, ``utf8mb4_unicode_ci``) may find it equal to
    another: case-, accent- and trailing-space-insensitive.  Two names
    that share a key are one name to such a database's unique index.
    The keys err on the side of "equal"."""
    stripped = name.rstrip(' ')
    bare = ''.join(ch for ch in unicodedata.normalize('NFKD', stripped)
                   if not unicodedata.combining(ch))
    return frozenset({bare.casefold(), bare.lower().replace('ß', 's')})


def same_to_a_database(first: str, second: str) -> bool:
    """Would one of the supported databases take these two names for
    one?"""
    return first != second and bool(
        collation_keys(first) & collation_keys(second))


def check_node_name(node: object) -> str:
    """``node`` if it can name a compute node's root provider.

    An empty name must never reach Placement: ``?name=`` with nothing
    after it is no filter at all, and would match an arbitrary node.

    :raises InvalidNodeName: empty, blank, not a string or too long.
    """
    if not isinstance(node, str):
        raise exception.InvalidNodeName(
            node=node, reason='a node is named by a string')
    if not node.strip():
        raise exception.InvalidNodeName(
            node=node, reason='the name is empty or blank (an unset '
                              'variable?); name the node')
    if len(node) > MAX_PROVIDER_NAME:
        raise exception.InvalidNodeName(
            node=node, reason=f'{len(node)} characters, more than the '
                              f'{MAX_PROVIDER_NAME} Placement allows')
    problem = name_problem(node)
    if problem:
        raise exception.InvalidNodeName(node=node, reason=problem)
    return node


HOST_CLASSES = frozenset([os_resource_classes.VCPU, os_resource_classes.PCPU,
                          os_resource_classes.MEMORY_MB,
                          os_resource_classes.DISK_GB])
"""The classes of the host itself, which nova's flat root always held.
Every other class is a device's (VFs, vGPUs, PCI devices, memory
encryption contexts): an allocation of one stays on its device."""


def is_device_class(name: str) -> bool:
    return name not in HOST_CLASSES


def is_custom(name: str) -> bool:
    return name.startswith('CUSTOM_')


PHYSNET_TRAITS = 'CUSTOM_PHYSNET_*'
"""The pattern of every physnet trait."""


def physnet_trait(physnet: str) -> str:
    """The trait neutron gives a physical network: CUSTOM_PHYSNET_<NAME>."""
    return str(os_traits.normalize_name('PHYSNET_' + physnet))


def pci_child_name(address: str) -> str:
    """The short name of the child of a PCI-backed device (an SR-IOV PF,
    a physical GPU): its PCI address as libvirt names the node device and
    nova's libvirt driver names its pGPU providers,
    ``0000:3B:00.0`` -> ``pci_0000_3b_00_0``.

    Every source of facts names a device so (``discover``, ``--from-nova``,
    the builders in :mod:`nested_pivot.layouts`, ``address`` in a layout
    file): the address is what sysfs and nova's database both know, and
    it survives a reboot, where an interface name may not.

    :raises InvalidLayout: ``address`` is not ``domain:bus:slot.function``
        (nova's own pattern, e.g. ``0000:3b:00.0``).
    """
    match = (_PCI_ADDRESS.match(address.strip().lower())
             if isinstance(address, str) else None)
    if not match:
        raise exception.InvalidLayout(
            reason=f'{address!r} is not a PCI address (domain:bus:slot.'
                   f'function, e.g. 0000:3b:00.0)')
    return 'pci_' + '_'.join(match.groups())


def pci_address(name: str) -> str | None:
    """The PCI address a :func:`pci_child_name` stands for, or None."""
    parts = name.split('_')
    if len(parts) != 5 or parts[0] != 'pci':
        return None
    address = f'{parts[1]}:{parts[2]}:{parts[3]}.{parts[4]}'
    return address if _PCI_ADDRESS.match(address) else None
