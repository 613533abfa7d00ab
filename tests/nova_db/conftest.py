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

"""Databases for the tests of pivots from nova's facts: a SQLite file, and
a database of its own on each real server that ``tools/placement-server
run --db all`` starts (``$NESTED_PIVOT_PLACEMENT_DB_<BACKEND>``)."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
import os
from pathlib import Path
import uuid as uuidlib

import pytest

from tests.functional import harness

BACKENDS = ('sqlite', *harness.BACKENDS)

Databases = Callable[[str], str]


def database_maker(backend: str, where: Path,
                   made: list[str]) -> Databases:
    """``make(name)``: the URL of a new, empty database on ``backend``
    (SQLite files under ``where``); each server database made is added to
    ``made``, for :func:`drop`."""

    def make(name: str) -> str:
        if backend == 'sqlite':
            return f'sqlite:///{where}/{name}.db'
        server = os.environ.get(
            f'NESTED_PIVOT_PLACEMENT_DB_{backend.upper()}')
        if not server:
            reason = (f'no {backend} server: run under tools/placement-'
                      'server run --db all')
            if os.environ.get('CI'):
                pytest.fail(reason)
            pytest.skip(reason)
        url = harness.create_database(
            server, f'np_{name}_{uuidlib.uuid4().hex[:10]}')
        made.append(url)
        return url

    return make


def drop(made: list[str]) -> None:
    for url in made:
        harness.drop_database(url)


@pytest.fixture(params=BACKENDS)
def databases(request: pytest.FixtureRequest,
              tmp_path: Path) -> Iterator[Databases]:
    """``make(name)``: the URL of a new, empty database on this
    backend."""
    made: list[str] = []
    yield database_maker(request.param, tmp_path, made)
    drop(made)
