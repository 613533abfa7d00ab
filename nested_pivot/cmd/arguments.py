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

"""Argument types shared by the commands: each refuses a bad value with a
usage error that says what was expected."""

from __future__ import annotations

import argparse

from nested_pivot import exception
from nested_pivot import names


def node_name(value: str) -> str:
    """A node name Placement can be asked about: never empty or blank,
    which Placement would read as "any node"."""
    try:
        return names.check_node_name(value)
    except exception.InvalidNodeName as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def positive(value: str) -> int:
    """A whole number of at least 1."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(
            f'expected a whole number of at least 1, not {value!r}')
    return number


def seconds(value: str) -> float:
    """A duration in seconds, 0 or more."""
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 <= number < float('inf'):
        raise argparse.ArgumentTypeError(
            f'expected a number of seconds, 0 or more, not {value!r}')
    return number


def physnet(value: str) -> tuple[str, str]:
    """``IFACE=PHYSNET``, both parts non-empty."""
    iface, sep, net = value.partition('=')
    if not sep or not iface.strip() or not net.strip():
        raise argparse.ArgumentTypeError(
            f'expected IFACE=PHYSNET, e.g. ens1f0=physnet1, not {value!r}')
    return iface.strip(), net.strip()


def ratio(value: str) -> float:
    """A positive allocation ratio."""
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not 0 < number < float('inf'):
        raise argparse.ArgumentTypeError(
            f'expected a positive number, not {value!r}')
    return number
