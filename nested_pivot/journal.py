"""A durable journal per node: the pre-image before a reshape, then the
result.

Each entry is one JSON file, written to a temporary file, fsynced, and
renamed into place (then the directory is fsynced), so an entry is either
whole or absent, whatever happens to the process.
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
import datetime
import json
import os
from pathlib import Path
import re
import tempfile
from typing import Any

from nested_pivot.engine.model import Snapshot
from nested_pivot.engine.plan import ReshapePlan

DEFAULT_STATE_DIR = '/var/lib/nested_pivot'


@dataclasses.dataclass(frozen=True)
class Entry:
    """One journal entry of a node."""

    path: Path
    kind: str
    body: Mapping[str, Any]

    @property
    def time(self) -> str:
        return str(self.body.get('time', ''))


class Journal:
    """The journal of every node under ``state_dir``."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.state_dir = Path(state_dir)

    def record_preimage(self, plan: ReshapePlan,
                        allocations: Mapping[str, Any]) -> Entry:
        """Everything the reshape of ``plan`` changes, as it is now."""
        return self._write(plan.node, 'pre-image', {
            'node': plan.node, 'uuid': plan.root,
            'tree': _tree(plan.before),
            'after': _tree(plan.after),
            'consumers': {c: allocations[c] for c in plan.consumers
                          if c in allocations},
            'moves': [dataclasses.asdict(m) for m in plan.moves],
        })

    def record_result(self, node: str, outcome: str,
                      detail: str = '') -> Entry:
        return self._write(node, 'result', {'node': node,
                                            'outcome': outcome,
                                            'detail': detail})

    def entries(self, node: str) -> list[Entry]:
        directory = self._directory(node)
        if not directory.is_dir():
            return []
        result = []
        for path in sorted(directory.glob('*.json')):
            body = json.loads(path.read_text())
            result.append(Entry(path, str(body.get('kind', '')), body))
        return result

    def last_preimage(self, node: str) -> Entry | None:
        found = [e for e in self.entries(node) if e.kind == 'pre-image']
        return found[-1] if found else None

    def flat_records(self, node: str) -> dict[str, Any] | None:
        """The root's records of the classes the node's last pivot took
        off it, as they were before: what a rollback restores."""
        for entry in reversed(self.entries(node)):
            if entry.kind != 'pre-image' or 'after' not in entry.body:
                continue
            before = _root(entry.body['tree'])
            after = _root(entry.body['after'])
            gone = set(before) - set(after)
            if gone:
                return {rc: before[rc] for rc in sorted(gone)}
        return None

    def _directory(self, node: str) -> Path:
        return self.state_dir / re.sub(r'[^A-Za-z0-9._-]', '_', node)

    def _write(self, node: str, kind: str, body: dict[str, Any]) -> Entry:
        directory = self._directory(node)
        directory.mkdir(parents=True, exist_ok=True)
        now = datetime.datetime.now(datetime.timezone.utc)
        body = {'kind': kind, 'time': now.isoformat(), **body}
        sequence = len(list(directory.glob('*.json')))
        path = directory / f'{sequence:06d}-{kind}.json'
        _durable_write(path, json.dumps(body, indent=1, sort_keys=True))
        return Entry(path, kind, body)


def _tree(snapshot: Snapshot) -> list[dict[str, Any]]:
    return [{'uuid': p.uuid, 'name': p.name, 'parent': p.parent,
             'generation': p.generation,
             'inventory': {rc: inv.as_dict()
                           for rc, inv in p.inventory.items()},
             'traits': sorted(p.traits)}
            for p in snapshot.providers.values()]


def _root(tree: list[dict[str, Any]]) -> dict[str, Any]:
    return next(dict(p['inventory']) for p in tree if p['parent'] is None)


def _durable_write(path: Path, text: str) -> None:
    # Order matters: the data reaches the disk before the name does, and
    # the name before we report the entry written.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix='.tmp-')
    try:
        with os.fdopen(fd, 'w') as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
