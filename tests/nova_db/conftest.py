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
run --db all`` starts (``$NESTED_PIVOT_PLACEMENT_DB_<BACKEND>``).  nova's
migrations run once per session on each backend, on a template of each
kind of nova database that every test's nova database is a copy of
(:mod:`tests.nova_db.templates`)."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
import os
from pathlib import Path
import uuid as uuidlib

import pytest

from tests.functional import harness
from tests.nova_db import templates

BACKENDS = ('sqlite', *harness.BACKENDS)

Databases = Callable[[str], str]


@pytest.fixture(scope='session', autouse=True)
def nova_templates(
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """This session's nova templates: listed in a directory of its own,
    which the processes the tests start inherit; the server templates
    dropped after."""
    where = tmp_path_factory.mktemp('nova-templates')
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(templates.ENV, str(where))
        try:
            yield where
        finally:
            templates.drop(where)


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
