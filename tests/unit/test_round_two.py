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

"""Issue 22's pure parts: the masking function on every form of URL, the
layout loader on every malformed value, the shapes of Placement's
answers, and what MariaDB stores.  The console script and real Placement
test the rest (tests/functional/test_cli_round_two.py)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import pytest
import yaml

from nested_pivot import dburl
from nested_pivot import exception
from nested_pivot import layoutfile
from nested_pivot import names
from nested_pivot.placement import answers
from nested_pivot.placement import backends

SECRET = 'S3cr3t'


@pytest.mark.parametrize('url', [
    f'postgresql+psycopg2://placement:{SECRET}@db:5432/placement',
    f'mysql+pymysql://placement@db/placement?password={SECRET}',
    f'mysql+pymysql://placement@db/placement?charset=utf8&PASSWORD={SECRET}',
    f'mysql+pymysql://placement@db/placement?passwd={SECRET}&x=1',
    f'mysql+pymysql://placement:{SECRET}%40x%20y@db/placement',
    f'mysql+pymysql://placement:pa ss {SECRET}@db/placement',
    f'mysql+pymysql://placement:p@ss{SECRET}@db/placement',
    f'mysql+pymysql://placement:{SECRET}/slash@db/placement',
    f'mysql+pymysql://placement:od"d\'ch;ars{SECRET}@db/placement',
    # nova.conf's [database] and [api_database] connections, as written
    f'mysql+pymysql://nova:{SECRET}@controller/nova?charset=utf8',
    f'mysql+pymysql://nova_api:{SECRET}@controller/nova_api',
])
@pytest.mark.parametrize('context', [
    '{}', 'cannot use the placement database {}: OperationalError',
    '"connection": "{}", "other": "a@b"', '--placement-db {} --layouts x'])
def test_every_form_of_password_is_masked(url, context):
    """Fails when a password in any form of database URL survives
    mask(), the function every printed, logged, journaled or JSON text
    goes through; remembered (given to the command), or not."""
    text = context.format(url)
    generic = dburl.mask(text)
    dburl.remember(url)
    remembered = dburl.mask(text)
    assert SECRET not in remembered, remembered
    if ' ' not in url:  # an unencoded space needs the URL remembered
        assert SECRET not in generic, generic
    assert '***' in remembered


def test_masking_leaves_other_text_alone():
    for text in ('sqlite:////var/lib/placement.sqlite',
                 'http://placement:8778/ is unavailable',
                 'node compute-1_NUMA0: 3 consumers moved',
                 'postgresql://placement@db/placement'):
        assert dburl.mask(text) == text


@pytest.mark.parametrize('url,problem', [
    ('mysql+pymysql://u:p@ss@db/placement', 'percent-encode it as %40'),
    ('sqlite:////nonexistent/placement.db', 'no such SQLite database file'),
])
def test_urls_that_would_fail_or_leak_are_refused(url, problem):
    assert problem in (dburl.problem(url) or '')


def test_usable_urls_pass():
    for url in ('mysql+pymysql://u:p%40ss@db/placement', 'sqlite://',
                'postgresql://u@db/p?password=x@y'):
        assert dburl.problem(url) is None


# -- the layout loader: every malformed value, named ------------------------

_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 2 ** 40),
    st.floats(allow_nan=True), st.text(max_size=8),
    st.sampled_from(['VCPU', 'NUMA0', 'HW_NUMA_ROOT', '1:30', '\ud83d',
                     'N\0', 'numa0', 'CUSTOM_X', '*']))
_VALUES = st.recursive(
    _SCALARS, lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.text(max_size=6), st.integers(0, 3)),
                        inner, max_size=3)), max_leaves=12)
_CHILD_KEYS = st.sampled_from(['name', 'parent', 'inventory', 'traits',
                               'uuid'])
_RULE_KEYS = st.sampled_from(list(layoutfile.RULE_KEYS))


@st.composite
def _documents(draw: Any) -> Any:
    """A layouts document, each field well formed or not."""
    children = draw(st.lists(st.dictionaries(_CHILD_KEYS, _VALUES,
                                             max_size=5), max_size=3))
    rule = draw(st.dictionaries(_RULE_KEYS, _VALUES, max_size=4))
    rule.setdefault('match', 'cn-*')
    rule.setdefault('children', children)
    return {'layouts': draw(st.one_of(st.just([rule]), _VALUES))}


@settings(max_examples=400, deadline=None)
@given(document=_documents())
def test_any_malformed_layout_is_a_layout_error(tmp_path_factory, document):
    """Fails when a malformed value anywhere in a layout file is anything
    but an InvalidLayout naming the file and where in it (a TypeError,
    an unhashable list, a surrogate that cannot be written out)."""
    path = tmp_path_factory.mktemp('fuzz') / 'layouts.json'
    path.write_text(json.dumps(document, default=str),
                    encoding='utf-8', errors='surrogatepass')
    try:
        found = layoutfile.load(path)
    except exception.InvalidLayout as err:
        message = str(err)
        assert message.startswith(f'{path}: ')
        assert len(message) < 2 * layoutfile.MAX_QUOTED + len(str(path)) \
            + 200
        message.encode('utf-8')  # printable: no lone surrogate
        return
    for rule in found.rules:
        for child in rule.layout.children:
            assert names.child_name_problem(child.name) is None


def test_merge_keys_and_yaml_1_2_scalars(tmp_path):
    path = tmp_path / 'l.yaml'
    path.write_text('cell: &cell {inventory: {VCPU: {total: 8}}}\n'
                    'layouts:\n  - match: "a*"\n    children:\n'
                    '      - {<<: *cell, name: NUMA0}\n'
                    '      - {<<: *cell, name: "yes", traits: []}\n')
    rule = layoutfile.load(path).rules[0]
    assert [c.name for c in rule.layout.children] == ['NUMA0', 'yes']
    assert yaml.load('[1:30, 010, 0x1F, .nan, yes, 1e3, -7, 2.5]',
                     Loader=layoutfile._Loader) == [
        '1:30', '010', '0x1F', '.nan', 'yes', 1000.0, -7, 2.5]


# -- Placement's answers ------------------------------------------------------

@pytest.mark.parametrize('url,body,problem', [
    ('/resource_providers', '<html><body>proxy</body></html>',
     'not a JSON object but an HTML page'),
    ('/resource_providers?in_tree=x', {'providers': []},
     'the body has no "resource_providers"'),
    ('/resource_providers/x/inventories',
     {'inventories': {'VCPU': {'total': '8'}},
      'resource_provider_generation': 1},
     '"inventories.VCPU.total" is text (\'8\'), not an integer'),
    ('/resource_providers/x/traits',
     {'traits': [1], 'resource_provider_generation': 1},
     '"traits[0]" is int 1, not a string'),
    ('/allocations/c', {'allocations': {'rp': {'resources': {'VCPU': True}}}},
     '"allocations.rp.resources.VCPU" is bool True, not an integer'),
    ('/resource_providers/x', None, 'not a JSON object but empty'),
])
def test_malformed_answers_are_named(url, body, problem):
    assert problem in (answers.problem(url, body) or '')


def test_placements_own_answers_pass():
    assert answers.problem('/resource_providers/x/allocations', {
        'allocations': {'c': {'resources': {'VCPU': 1},
                              'consumer_generation': 1}},
        'resource_provider_generation': 3}) is None
    assert answers.problem('/allocations/c', {'allocations': {}}) is None
    assert answers.problem('/', {'anything': 1}) is None


# -- what MariaDB stores ----------------------------------------------------

@pytest.mark.parametrize('written,stored', [
    (1.2345678, 1.23457), (16.12345, 16.1234), (1.1, 1.1), (4.0, 4.0),
    (0.1234567, 0.123457), (3.40282e38, 3.40282e38)])
def test_ratios_as_mariadb_stores_them(written, stored):
    """The figures seen on the functional env's MariaDB server."""
    assert backends.as_stored(written) == stored


@pytest.mark.parametrize('first,second,same', [
    ('NUMA0', 'numa0', True), ('café', 'cafe', True), ('pf0', 'pf0 ', True),
    ('straße', 'strase', True), ('NUMA0', 'NUMA1', False),
    (' pf0', 'pf0', False)])
def test_names_a_database_takes_for_one(first, second, same):
    assert names.same_to_a_database(first, second) is same
