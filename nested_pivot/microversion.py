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

"""Placement microversions that nested_pivot relies on, and helpers to
compare them."""

from __future__ import annotations

import warnings

Version = tuple[int, int]
VersionLike = str | Version

# What each microversion brings that nested_pivot uses: one name per
# version, for the first thing nested_pivot needs of it.  Every request
# names its version through one of these: no literal versions elsewhere.
TRAITS_PUT: Version = (1, 6)
RESOURCE_CLASS_PUT: Version = (1, 7)
NESTED_PROVIDERS: Version = (1, 14)
REQUIRED_TRAITS: Version = (1, 18)
# Providers are read and written at this one version: it has the tree
# (1.14), ?required= (1.18), and returns a created provider (1.20).
PROVIDERS: Version = (1, 20)
PROVIDER_ALLOCATIONS_GENERATIONS: Version = (1, 28)
RESHAPER: Version = (1, 30)
# A provider may change its parent; and the newest version that neither
# shows nor asks for consumer types (see untyped()).
REPARENT: Version = (1, 37)
CONSUMER_TYPE: Version = (1, 38)
NEWEST_KNOWN: Version = (1, 39)

TABLE: dict[Version, str] = {
    TRAITS_PUT: 'PUT /traits/{name} creates a custom trait',
    RESOURCE_CLASS_PUT: 'PUT /resource_classes/{name} creates a class',
    NESTED_PROVIDERS: 'parent_provider_uuid on providers, ?in_tree=',
    REQUIRED_TRAITS: '?required= on GET /resource_providers',
    PROVIDERS: 'POST /resource_providers returns the provider',
    PROVIDER_ALLOCATIONS_GENERATIONS:
        'consumer generations in allocations',
    RESHAPER: 'POST /reshaper',
    REPARENT: 'a provider may change its parent (PUT '
              '/resource_providers/{uuid}); newest without consumer types',
    CONSUMER_TYPE: 'consumer_type required when writing allocations',
    NEWEST_KNOWN: 'newest microversion this library knows',
}


def __getattr__(name: str) -> Version:
    """The names of versions that had a second name: deprecated."""
    if name in _RENAMED:
        warnings.warn(f'nested_pivot.microversion.{name} is deprecated: '
                      f'use {_RENAMED[name][0]}', DeprecationWarning,
                      stacklevel=2)
        return _RENAMED[name][1]
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


_RENAMED = {'CREATE_RETURNS_BODY': ('PROVIDERS', PROVIDERS),
            'UNTYPED': ('REPARENT (or untyped())', REPARENT)}


def parse(version: VersionLike) -> Version:
    """``'1.30'`` or ``(1, 30)`` as a comparable tuple."""
    if isinstance(version, tuple):
        major, minor = version
    else:
        text = str(version).strip()
        major_s, _, minor_s = text.partition('.')
        if not (major_s.isdigit() and minor_s.isdigit()):
            raise ValueError(f'not a microversion: {version!r}')
        major, minor = int(major_s), int(minor_s)
    return (int(major), int(minor))


def text(version: Version) -> str:
    return f'{version[0]}.{version[1]}'


def at_least(version: VersionLike, minimum: Version) -> bool:
    return parse(version) >= minimum


def supports_reshaper(version: VersionLike) -> bool:
    return RESHAPER <= parse(version) <= NEWEST_KNOWN


def choose(server_max: VersionLike) -> Version:
    """The version to speak: the server's newest, capped at ours."""
    return min(parse(server_max), NEWEST_KNOWN)


def untyped(version: Version) -> Version:
    """``version``, capped below consumer types: reading at it costs
    Placement one query less per ``GET /allocations/{c}`` (its consumer
    type cache lives for one request), and writing at it leaves every
    consumer's type as it is."""
    return min(version, (CONSUMER_TYPE[0], CONSUMER_TYPE[1] - 1))
