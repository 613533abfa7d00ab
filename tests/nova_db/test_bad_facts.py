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

"""Bad facts change nothing in Placement: each node whose facts contradict
Placement (an instance nova puts on another node, a topology that
contradicts the allocations, a cell that offers no dedicated CPUs) or that
nova does not have is refused with a reason naming the node, the consumer,
the class and the numbers, and left as it was; the others are pivoted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.nova_db import cells as nova
from tests.nova_db.cells import Cell
from tests.nova_db.test_from_nova import cli
from tests.nova_db.test_from_nova import flat_root
from tests.nova_db.test_from_nova import FLOATING
from tests.nova_db.test_from_nova import held
from tests.nova_db.test_from_nova import placement

WRONG = '6f1c2b0e-0000-4000-8000-0000000000a1'


class BadFleet:
    """good-1 is fine; wrong-1 holds the allocations of an instance nova
    puts on wrong-2; contra-1 has a pinned instance holding more PCPU
    than its topology; cell-1 pins an instance on a cell without
    dedicated CPUs; ghost-1 is in Placement only."""

    def __init__(self, cell: nova.NovaCell) -> None:
        self.cell = cell
        self.consumers: dict[str, tuple[str, dict[str, int]]] = {}
        self.roots: dict[str, Any] = {}
        two = [(4, 4, 8192), (4, 4, 8192)]
        for name in ('good-1', 'wrong-1', 'wrong-2', 'contra-1'):
            self.roots[name] = flat_root(cell.node(name, two))
        self.roots['cell-1'] = flat_root(
            cell.node('cell-1', [(4, 4, 8192), (4, 0, 8192)]))
        self.roots['ghost-1'] = flat_root(cell.node('unused', []))
        pinned = [Cell(1, pcpus=2, memory_mb=1024)]
        self.good = self.add('good-1', pinned, held(pinned))
        self.add('wrong-1', None, FLOATING)
        cell.instance('wrong-2', pinned, uuid=WRONG)
        self.consumers[WRONG] = ('wrong-1', held(pinned))
        self.contra = self.add('contra-1', pinned,
                               dict(held(pinned), PCPU=4))
        self.pinned_nowhere = self.add('cell-1', pinned, held(pinned))
        self.add('ghost-1', None, FLOATING, nova_too=False)

    def add(self, node: str, cells: list[Cell] | None,
            resources: dict[str, int], nova_too: bool = True) -> str:
        uuid = (self.cell.instance(node, cells) if nova_too
                else '6f1c2b0e-0000-4000-8000-0000000000a2')
        self.consumers[uuid] = (node, resources)
        return uuid

    def spec(self) -> dict[str, Any]:
        nodes: dict[str, Any] = {n: {'inventory': inv, 'consumers': {}}
                                 for n, inv in self.roots.items()}
        for uuid, (node, resources) in self.consumers.items():
            nodes[node]['consumers'][uuid] = {'resources': resources}
        return {'nodes': nodes}


@pytest.fixture
def bad(tmp_path: Path) -> tuple[BadFleet, list[str]]:
    nova_db = f'sqlite:///{tmp_path}/nova.db'
    placement_db = f'sqlite:///{tmp_path}/placement.db'
    fleet = BadFleet(nova.NovaCell(nova_db))
    placement('seed', placement_db, fleet.spec())
    return fleet, ['--nova-db', nova_db, '--placement-db', placement_db,
                   '--state-dir', str(tmp_path / 'state')]


def _node(state: dict[str, Any], name: str) -> dict[str, Any]:
    """A node's providers and its consumers' allocations, whole."""
    providers = {n: p for n, p in state['providers'].items()
                 if n == name or n.startswith(name + '_')}
    consumers = {c: e for c, e in state['consumers'].items()
                 if set(e['allocations']) & set(providers)}
    return {'providers': providers, 'consumers': consumers}


REASONS = {
    'wrong-1': f'node wrong-1: consumer {WRONG} holds DISK_GB=10 '
               'MEMORY_MB=1024 PCPU=2 on the node, but nova\'s cell '
               'database puts it on node wrong-2',
    'contra-1': 'holds PCPU=4 on the node, but its NUMA topology in nova\'s '
                'cell database gives PCPU=2 (NUMA1: 2)',
    'cell-1': 'uses PCPU=2 on host cell 1, where nova\'s cell database '
              'records no dedicated CPUs',
}


def test_bad_facts_refuse_their_nodes_and_change_nothing(bad):
    """Fails when a node whose facts are bad is changed in Placement, or
    refused without saying which consumer, class and numbers are wrong."""
    fleet, access = bad
    url = access[access.index('--placement-db') + 1]
    before = placement('dump', url)

    run = cli('apply', '--all', '--yes', *access)
    assert run.returncode == 2, run.stdout + run.stderr
    rows = {line.split()[0]: line for line in run.stdout.splitlines()
            if line[:1].isalpha() and '-' in line.split()[0]}
    assert ' done ' in rows['good-1'] + ' '
    assert 'failed' in rows['wrong-2'] or 'done' in rows['wrong-2']
    for node, reason in REASONS.items():
        assert 'failed' in rows[node], run.stdout
        assert reason in ' '.join(run.stdout.split()), (node, run.stdout)
    assert 'ghost-1' not in rows  # nova does not have it: not selected
    assert 'has no compute node ghost-1' in run.stderr
    assert f'nova puts instance {WRONG} on the node, but it holds no ' \
        'allocation there' in run.stderr

    after = placement('dump', url)
    for node in (*REASONS, 'ghost-1'):
        assert _node(after, node) == _node(before, node), node
    assert 'good-1_NUMA1' in after['providers']
    assert set(after['consumers'][fleet.good]['allocations']) == {
        'good-1', 'good-1_NUMA1'}

    named = cli('apply', 'ghost-1', '--yes', *access)
    assert named.returncode == 2
    assert "nova's cell database has no compute node ghost-1" in named.stdout
    planned = cli('plan', 'contra-1', *access)
    assert planned.returncode == 2 and 'cannot_pivot' in planned.stdout
    assert REASONS['contra-1'] in ' '.join(planned.stdout.split())
    checked = cli('check', '--json', *access)
    assert checked.returncode == 2
    states = {n['node']: n['state']
              for n in json.loads(checked.stdout)['nodes']}
    assert {states[n] for n in REASONS} == {'cannot_pivot'}
    assert states['ghost-1'] == 'not_applicable'
    assert placement('dump', url) == after


def test_discover_writes_the_layouts_file_the_cli_reads(bad, tmp_path):
    """Fails when discover's file is not one rule per node matching its
    exact name with the hints nova's facts give, or when apply does not
    read it as the same layout --from-nova builds."""
    fleet, access = bad
    nova_db = access[1]
    out = tmp_path / 'layouts.yaml'
    found = cli('discover', '--nova-db', nova_db, '--output', str(out))
    # cell-1's facts contradict themselves, Placement or not: no rule.
    assert found.returncode == 1, found.stderr
    assert 'Not checked against Placement' in found.stderr
    assert REASONS['cell-1'] in found.stderr
    document = yaml.safe_load(out.read_text())
    rules = {r['match']: r for r in document['layouts']}
    assert set(rules) == {'good-1', 'wrong-1', 'wrong-2', 'contra-1'}
    assert rules['good-1']['hints'] == {'good-1': {fleet.good: {
        'PCPU': {'NUMA1': 2}, 'MEMORY_MB': {'NUMA1': 1024},
        'convert': {'VCPU': 'PCPU'}}}}
    assert [c['name'] for c in rules['good-1']['children']] == [
        'NUMA0', 'NUMA1']

    checked = cli('discover', '--json', *access)
    assert checked.returncode == 1  # nodes refused: their rules left out
    summary = json.loads(checked.stdout)['summary']
    assert set(summary['refused']) == set(REASONS)

    placement_db = access[access.index('--placement-db') + 1]
    applied = cli('apply', 'good-1', '--yes', '--layouts', str(out),
                  '--placement-db', placement_db, '--state-dir',
                  str(tmp_path / 's'))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    after = placement('dump', placement_db)
    assert after['consumers'][fleet.good]['allocations']['good-1_NUMA1'] \
        == {'PCPU': 2, 'MEMORY_MB': 1024}


def test_all_cells_through_the_api_database(bad, tmp_path):
    """Fails when --all-cells does not find the cells as nova-manage does
    (through [api_database] and its cell mappings, cell0 left out), or
    nova.conf's reserved memory and [pci] device_spec physnets are not
    read as nova reads them."""
    fleet, access = bad
    fleet.cell.node('pf-1', [(4, 4, 8192)], pfs={'0000:5e:00.0': (0, 2)})
    api = f'sqlite:///{tmp_path}/api.db'
    nova.api_database(api, {'cell1': access[1]})
    conf = tmp_path / 'nova.conf'
    spec = ('{"vendor_id": "8086", "product_id": "154d", '
            '"physical_network": "physnet9"}')
    conf.write_text(f'[api_database]\nconnection = {api}\n'
                    '[DEFAULT]\nreserved_host_memory_mb = 1024\n'
                    f'[pci]\ndevice_spec = {spec}\n')
    found = cli('discover', '--all-cells', '--config-file', str(conf),
                '--json')
    assert found.returncode == 1, found.stderr  # cell-1 refused
    assert set(json.loads(found.stdout)['summary']['refused']) == {
        'cell-1'}
    rules = {r['match']: r for r in json.loads(found.stdout)['layouts']}
    assert 'good-1' in rules
    memory = rules['good-1']['children'][0]['inventory']['MEMORY_MB']
    assert memory['reserved'] == 1024  # nova.conf's, read as nova reads it
    pf = rules['pf-1']['children'][1]
    assert pf['name'] == 'pci_0000_5e_00_0' and pf['parent'] == 'NUMA0'
    assert pf['traits'] == ['CUSTOM_PHYSNET_PHYSNET9']  # [pci] device_spec
    assert pf['inventory'] == {'SRIOV_NET_VF': {'total': 2}}


def test_without_nova_installed_one_line(tmp_path, monkeypatch):
    """Fails when reading nova's facts without nova is not one line that
    says which extra to install."""
    shadow = tmp_path / 'nova'
    shadow.mkdir()
    (shadow / '__init__.py').write_text('raise ImportError("no nova")\n')
    monkeypatch.setenv('PYTHONPATH', str(tmp_path))
    proc = cli('discover', '--nova-db', f'sqlite:///{tmp_path}/x.db')
    assert proc.returncode == 255, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "nested_pivot[nova]" in lines[0]
