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

"""The fleet soak: ``nested-pivot apply --all --concurrency 4`` on 100
flat NUMA nodes of 8 instances each, while a scheduler-like claimer (10
claims/s), a deleter (5 deletes/s, mostly nova's default bare DELETE) and
a racer work on the same fleet; on the PostgreSQL and on the MariaDB
server.  nova's records are kept in a real nova cell database, and the
fleet is audited against it at the end (``nested-pivot audit``, then
``--fix``): every delete a pivot undid must be found and removed.  See
``tests/functional/soak.py`` for what runs and what is checked.

``tox -e soak`` (a few minutes per run and backend).  Knobs, from the
environment: ``NESTED_PIVOT_SOAK_RUNS`` (runs per backend, seeds 16, 17,
...), and any field of ``soak.Settings`` as
``NESTED_PIVOT_SOAK_<FIELD>`` (e.g. ``NESTED_PIVOT_SOAK_NODES=200``).
``NESTED_PIVOT_SOAK_RESULTS`` names a file each run's counts are
appended to, one JSON document a line.
"""

from __future__ import annotations

import dataclasses
import os

import pytest

from tests.functional import soak
from tests.soak.nova_cell import SoakNova

RUNS = int(os.environ.get('NESTED_PIVOT_SOAK_RUNS', '1'))


@pytest.mark.parametrize('run', range(RUNS))
def test_fleet_soak(real_server, tmp_path, request, run):
    settings = soak.Settings.from_env(
        nodes=100, instances=8, claim_rate=10.0, delete_rate=5.0,
        warmup=3.0, cooldown=2.0)
    settings = dataclasses.replace(settings, seed=settings.seed + run)
    nova = SoakNova(f'sqlite:///{tmp_path}/nova.db')
    outcome = soak.run(real_server, tmp_path, settings, nova)
    soak.report(request, outcome)
    assert not outcome.problems, '\n'.join(outcome.summary())
    assert outcome.counts['lost'] == 0
    # nova's guarded delete never leaks; the bare DELETE may (hazard 1).
    assert outcome.counts['leaks guarded'] == 0
    assert outcome.counts['leaks race-guarded'] == 0
    # Every delete a pivot undid is found by the audit, and removed.
    leaks = sum(len(found) for found in outcome.leaks.values())
    assert outcome.counts['leaks found by audit'] == leaks
    assert outcome.counts['leaks removed by audit --fix'] == leaks
    assert outcome.counts['leaks left after audit --fix'] == 0
    assert outcome.nodes['pivoted'] + outcome.nodes['failed'] == \
        settings.nodes
    assert outcome.nodes['pivoted'] >= settings.nodes * 0.9
    assert outcome.counts['claims accepted'] > 0
    assert outcome.counts['claims on child providers'] > 0
