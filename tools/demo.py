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

"""The demo behind tools/demo: see that script."""

from __future__ import annotations

from pathlib import Path
import shlex
import subprocess
import sys
import tempfile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NODE = 'compute-1'
LAYOUTS = """\
layouts:
  - match: "compute-*"
    children:
      - name: NUMA0
        inventory:
          VCPU: {total: 32, allocation_ratio: 4.0}
          MEMORY_MB: {total: 131072, reserved: 512}
        traits: [HW_NUMA_ROOT]
      - name: NUMA1
        inventory:
          VCPU: {total: 32, allocation_ratio: 4.0}
          MEMORY_MB: {total: 131072, reserved: 512}
        traits: [HW_NUMA_ROOT]
      - name: ens1f0
        parent: NUMA0
        inventory: {SRIOV_NET_VF: {total: 8}}
        traits: [CUSTOM_PHYSNET_PHYSNET1]
      - name: ens1f1
        parent: NUMA1
        inventory: {SRIOV_NET_VF: {total: 8}}
        traits: [CUSTOM_PHYSNET_PHYSNET1]
"""


def seed(connection: str) -> None:
    """A flat two-socket host with SR-IOV and 24 running instances."""
    from tests.functional import harness
    from tests.functional import seed as placement_seed

    conf = harness.configure_database(connection)
    with harness.direct_placement(conf) as adapter:
        root = placement_seed.flat_node(adapter, NODE, {
            'VCPU': {'total': 64, 'allocation_ratio': 4.0},
            'MEMORY_MB': {'total': 262144, 'reserved': 1024},
            'SRIOV_NET_VF': {'total': 16},
            'DISK_GB': {'total': 4000}})
        placement_seed.instances(adapter, root, 18, {
            'VCPU': 8, 'MEMORY_MB': 8192, 'DISK_GB': 40})
        placement_seed.instances(adapter, root, 6, {
            'VCPU': 4, 'MEMORY_MB': 4096, 'DISK_GB': 20,
            'SRIOV_NET_VF': 2})


def run(*args: str) -> int:
    print(f'\n$ nested-pivot {shlex.join(args)}', flush=True)
    script = Path(sys.executable).with_name('nested-pivot')
    return subprocess.run([str(script), *args], check=False).returncode


def main() -> int:
    with tempfile.TemporaryDirectory(prefix='nested-pivot-demo-') as tmp:
        connection = f'sqlite:///{tmp}/placement.sqlite'
        subprocess.run([sys.executable, __file__, 'seed', connection],
                       check=True)
        layouts = Path(tmp) / 'layouts.yaml'
        layouts.write_text(LAYOUTS)
        common = ('--placement-db', connection, '--layouts', str(layouts),
                  '--state-dir', f'{tmp}/state')
        print(f'Embedded Placement on {connection}: one flat two-socket '
              f'host, {NODE}, with SR-IOV and 24 running instances.')
        first = run('check', *common)
        planned = run('plan', NODE, *common)
        applied = run('apply', '--all', '--yes', *common)
        last = run('check', *common)
        print(f'\nExit codes: check {first} (work pending), plan {planned}, '
              f'apply {applied}, check {last} (nothing to do).')
        return 0 if (first, planned, applied, last) == (1, 0, 0, 0) else 1


if __name__ == '__main__':
    if sys.argv[1:2] == ['seed']:
        seed(sys.argv[2])
        sys.exit(0)
    sys.exit(main())
