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

"""The one rule for a root's records, and the callers that share it."""

from __future__ import annotations

import ast
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from nested_pivot.engine import root

CLASSES = ('VCPU', 'MEMORY_MB', 'DISK_GB', 'SRIOV_NET_VF', 'VGPU')
records = st.dictionaries(st.sampled_from(CLASSES), st.integers(0, 99))
classes = st.frozensets(st.sampled_from(CLASSES))


def _sums(missing: set[str]) -> dict[str, int]:
    return dict.fromkeys(missing, -1)


def test_the_root_keeps_what_no_child_carries() -> None:
    assert root.records({'VCPU': 8, 'DISK_GB': 100}, {'VCPU'}, {}, set(),
                        _sums) == {'DISK_GB': 100}


def test_a_leaving_class_is_given_else_own_else_summed() -> None:
    found = root.records({'DISK_GB': 100, 'VGPU': 2}, {'VCPU'},
                         {'MEMORY_MB': 4096},
                         {'MEMORY_MB', 'VGPU', 'SRIOV_NET_VF'}, _sums)
    assert found == {'DISK_GB': 100, 'VGPU': 2, 'MEMORY_MB': 4096,
                     'SRIOV_NET_VF': -1}


@given(records, classes, records, classes)
def test_the_rule(own: dict[str, int], carried: frozenset[str],
                  given_: dict[str, int], leaving: frozenset[str]) -> None:
    """Given records win; the root's own records of classes no child
    carries are kept; only leaving classes nobody gave are summed, and
    nothing else appears."""
    asked: list[set[str]] = []

    def sums(missing: set[str]) -> dict[str, int]:
        asked.append(set(missing))
        return _sums(missing)

    found = root.records(own, carried, given_, leaving, sums)
    kept = {rc: n for rc, n in own.items() if rc not in carried}
    summed = set(leaving) - set(kept) - set(given_)
    assert found == {**kept, **dict.fromkeys(summed, -1), **given_}
    assert asked == ([summed] if summed else [])


def test_the_engine_and_the_hook_decide_the_root_through_the_rule() -> None:
    """Fails when the engine's target or the nova hook builds the root's
    records without :func:`nested_pivot.engine.root.records`: the rule of
    what a flat root gets back lived in both, and drifted."""
    package = Path(root.__file__).resolve().parents[1]
    for module in ('engine/target.py', 'nova.py'):
        tree = ast.parse((package / module).read_text())
        called = {node.func.id for node in ast.walk(tree)
                  if isinstance(node, ast.Call)
                  and isinstance(node.func, ast.Name)}
        assert 'root_records' in called, module
