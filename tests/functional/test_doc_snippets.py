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

"""Every Python snippet of the README and the guides runs, in order, with
the names its text assumes (a flat node, its instances, a driver base
class, nova's report client module), against a real Placement where it
talks to one.  Every layouts file snippet of the operator guide loads.
The README's snippets are ```python fences; the guides' (doc/source,
reStructuredText) are ``.. code-block:: python`` and ``yaml``
directives."""

from __future__ import annotations

import dataclasses
import re
import types
from typing import Any

import pytest
import yaml

from nested_pivot import layoutfile
from nested_pivot import layouts
from nested_pivot.tree import ProviderTree
from tests.doc_sources import DRIVER_GUIDE
from tests.doc_sources import OPERATOR_GUIDE
from tests.doc_sources import read
from tests.doc_sources import snippets
from tests.functional import harness
from tests.functional import seed

DOCS = ('README.md', DRIVER_GUIDE, OPERATOR_GUIDE)
FLAT = {'VCPU': {'total': 64, 'allocation_ratio': 4.0},
        'MEMORY_MB': {'total': 131072, 'reserved': 1024},
        'SRIOV_NET_VF': {'total': 16}, 'DISK_GB': {'total': 2000}}


def _namespace() -> dict[str, Any]:
    """What the snippets' text assumes: a flat node compute-1 with two
    instances, one of them with a VF on each of two PFs."""
    tree = ProviderTree()
    root = seed.unique('root')
    tree.new_root('compute-1', root, generation=1)
    tree.update_inventory(root, FLAT)
    instance, other = seed.unique('vm'), seed.unique('vm')
    allocations = {
        instance: _record({root: {'VCPU': 4, 'MEMORY_MB': 4096}}),
        other: _record({root: {'VCPU': 4, 'MEMORY_MB': 4096,
                               'SRIOV_NET_VF': 2}})}
    return {'provider_tree': tree, 'allocations': allocations,
            'nodename': 'compute-1', 'instance_uuid': instance,
            'other_uuid': other, 'dataclasses': dataclasses,
            'driver': types.SimpleNamespace(ComputeDriver=object),
            'report': types.SimpleNamespace(
                report_client_singleton=lambda: None),
            'my_layout': layouts.numa([layouts.NumaCell(vcpu=4)]),
            'consumers': [instance, other]}


def _record(allocations: dict[str, dict[str, int]]) -> dict[str, Any]:
    return {'allocations': {rp: {'resources': res}
                            for rp, res in allocations.items()},
            'project_id': seed.unique('p'), 'user_id': seed.unique('u'),
            'consumer_generation': 1}


@pytest.fixture
def nova_conf(http, real_server_url, tmp_path) -> Any:
    """A nova.conf for the real server, with a flat node for the README's
    Placement snippet to pivot; the names to put in that snippet."""
    name = seed.unique('compute')
    seed.flat_node(http, name, FLAT)
    with harness.FaultProxy(real_server_url) as proxy:
        proxy.set_headers = {'X-Roles': 'admin,service'}
        conf = tmp_path / 'nova.conf'
        harness.nova_conf(conf, proxy.url)
        yield {'/etc/nova/nova.conf': str(conf), "'compute-1'": repr(name)}


@pytest.mark.parametrize('doc', ['README.md', DRIVER_GUIDE])
def test_python_snippets_run(doc, nova_conf):
    namespace = _namespace()
    found = snippets(doc, 'python')
    assert found, f'{doc} has no Python snippet'
    for number, code in enumerate(found):
        if 'PlacementClient.from_conf' in code:
            for literal, real in nova_conf.items():
                code = code.replace(literal, real)
        try:
            exec(compile(code, f'{doc} snippet {number}', 'exec'),
                 namespace)
        except Exception as err:
            pytest.fail(f'{doc}, Python snippet {number} fails: '
                        f'{type(err).__name__}: {err}\n{code}')


def test_layouts_file_snippets_load(tmp_path):
    found = [s for s in snippets(OPERATOR_GUIDE, 'yaml')
             if s.startswith('layouts:')]
    assert found
    for number, text in enumerate(found):
        assert yaml.safe_load(text)
        path = tmp_path / f'{number}.yaml'
        path.write_text(text)
        layoutfile.load(path)


@pytest.mark.parametrize('doc', DOCS[1:])
def test_every_guide_snippet_is_a_code_block(doc):
    """Fails when a guide holds code the tests above cannot see: a
    Markdown fence, or a bare ``::`` literal block (neither is a
    ``.. code-block:: LANGUAGE``)."""
    text = read(doc)
    assert '```' not in text
    bare = [line for line in text.splitlines()
            if line.rstrip().endswith('::')
            and not re.match(r'\s*\.\. [\w:.-]+::', line)]
    assert not bare, bare
    assert snippets(doc, 'python') or snippets(doc, 'yaml')
