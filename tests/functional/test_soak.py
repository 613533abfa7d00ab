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

"""A small fleet soak on each real server: ``nested-pivot apply --all``
on 20 flat nodes while a scheduler-like claimer, a deleter and a racer
work on the same fleet (see ``soak.py``; the full soak is ``tox -e
soak``)."""

from __future__ import annotations

import pytest

from tests.functional import soak


@pytest.mark.every_backend(
    "nova's deletes and a racer on one fleet: the database's locking "
    "and generations")
def test_small_fleet_soak(real_server, tmp_path, request):
    settings = soak.Settings.from_env(
        nodes=20, instances=4, claim_rate=5.0, delete_rate=2.5,
        warmup=1.0, cooldown=1.0, timeout=300.0)
    outcome = soak.run(real_server, tmp_path, settings)
    soak.report(request, outcome)
    assert not outcome.problems, '\n'.join(outcome.summary())
    assert outcome.counts['lost'] == 0
    assert outcome.counts['leaks race-guarded'] == 0
    assert outcome.counts['leaks guarded'] == 0
    assert outcome.nodes['pivoted'] + outcome.nodes['failed'] == \
        settings.nodes
    assert outcome.counts['claims accepted'] > 0
    assert outcome.counts['reshapes'] >= outcome.nodes['pivoted']
