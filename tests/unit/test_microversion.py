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

"""The microversion table and its helpers."""

from __future__ import annotations

import pytest

from nested_pivot import microversion


@pytest.mark.parametrize('value,expected', [
    ('1.30', (1, 30)), (' 1.9 ', (1, 9)), ((1, 39), (1, 39))])
def test_parse(value, expected):
    assert microversion.parse(value) == expected


@pytest.mark.parametrize('value', ['latest', '1', '1.x', ''])
def test_parse_rejects(value):
    with pytest.raises(ValueError):
        microversion.parse(value)


def test_comparisons_are_numeric_not_textual():
    assert microversion.at_least('1.100', (1, 39))
    assert not microversion.at_least('1.9', microversion.RESHAPER)


@pytest.mark.parametrize('server,chosen', [
    ('1.30', (1, 30)), ('1.39', (1, 39)), ('1.45', (1, 39))])
def test_choose_caps_at_the_newest_known(server, chosen):
    assert microversion.choose(server) == chosen


def test_table_names_every_version_used():
    """Fails if a version constant is added without saying what it brings."""
    constants = {v for k, v in vars(microversion).items()
                 if k.isupper() and isinstance(v, tuple)}
    assert constants <= set(microversion.TABLE)


def test_one_name_per_version():
    """Fails when two constants name one version: the table can describe
    only one of them, and a reader cannot tell which name a call means."""
    constants = [v for k, v in vars(microversion).items()
                 if k.isupper() and isinstance(v, tuple)]
    assert len(constants) == len(set(constants))


def test_the_old_second_names_still_work_with_a_warning():
    """Fails when a name callers may hold breaks without a deprecation."""
    with pytest.warns(DeprecationWarning, match='use PROVIDERS'):
        assert microversion.CREATE_RETURNS_BODY == microversion.PROVIDERS
    with pytest.warns(DeprecationWarning, match='use REPARENT'):
        assert microversion.UNTYPED == (1, 37)
    assert microversion.untyped(microversion.NEWEST_KNOWN) == (1, 37)
    with pytest.raises(AttributeError):
        microversion.NO_SUCH_VERSION  # noqa: B018
