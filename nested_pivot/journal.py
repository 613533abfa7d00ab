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

"""A durable journal per node: the pre-image before a reshape, then the
result.

The journal of a node lives in ``<state dir>/<root provider uuid>/``, so
two nodes never share one whatever their names, and a name cannot lead
outside the state dir.  Each entry is one JSON file, written to a
temporary file, fsynced, and linked into place under the node's lock (then
the directory is fsynced), so an entry is either whole or absent, and two
writers never overwrite each other.

The journal trusts only what the user running nested_pivot wrote: the
directories it creates are 0700, and a directory or entry that is a
symbolic link or belongs to another user is refused, and so is an existing
directory that others may write in (``/tmp``): its mode is never changed.
Entries are validated when read: an entry that is not what nested_pivot
writes, a field missing or of the wrong type, or records that would not
pass the checks a layout's inventory passes, is an error that names the
file and the field.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
import contextlib
import dataclasses
import datetime
import fcntl
import getpass
import importlib.metadata
import json
import os
from pathlib import Path
import re
import stat
import tempfile
from typing import Any
import uuid as uuidlib

from nested_pivot import dburl
from nested_pivot import exception
from nested_pivot.engine import amount_changes
from nested_pivot.engine import ConsumerRecord
from nested_pivot.engine import ReshapePlan
from nested_pivot.engine import Snapshot
from nested_pivot.layout import Inventory

DEFAULT_STATE_DIR = '/var/lib/nested_pivot'
KINDS = ('pre-image', 'result')
_NAME = re.compile(r'^(\d{6})-(pre-image|result)\.json$')


@dataclasses.dataclass(frozen=True)
class Entry:
    """One journal entry of a node."""

    path: Path
    kind: str
    body: Mapping[str, Any]

    @property
    def time(self) -> str:
        return str(self.body.get('time', ''))

    @property
    def operation(self) -> str:
        return str(self.body.get('operation', ''))


class Journal:
    """The journal of every node under ``state_dir``."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.state_dir = Path(state_dir)

    def record_preimage(self, plan: ReshapePlan,
                        records: Mapping[str, ConsumerRecord],
                        operation: str = 'apply') -> Entry:
        """Everything the reshape of ``plan`` changes, as it is now: the
        tree, and the whole records of the consumers that move."""
        return self._write(plan.root, 'pre-image', operation, {
            'node': plan.node, 'uuid': plan.root,
            'tree': _tree(plan.before),
            'after': _tree(plan.after),
            'consumers': {c: _consumer(records[c]) for c in plan.consumers
                          if c in records},
            'moves': [dataclasses.asdict(m) for m in plan.moves],
            'owned': _owned(plan),
            'heals': [dataclasses.asdict(h) for h in plan.heals],
            'changes': [dataclasses.asdict(c) for c in
                        amount_changes(plan, records)],
            'renamed': {u: {'from': plan.before.providers[u].name,
                            'to': name}
                        for u, name in sorted(plan.renamed.items())},
        })

    def record_result(self, uuid: str, node: str, outcome: str,
                      detail: str = '', operation: str = 'apply') -> Entry:
        return self._write(uuid, 'result', operation, {
            'node': node, 'uuid': uuid, 'outcome': outcome,
            'detail': dburl.mask(detail)})

    def check(self, uuid: str) -> None:
        """Can the node's journal be written?  Its directory is made, as
        :meth:`record_preimage` would, and checked.

        :raises JournalError: naming the path and the problem.
        """
        directory = self._directory(uuid)
        try:
            _make_dir(self.state_dir)
            _make_dir(directory)
        except OSError as err:
            raise exception.JournalError(
                path=str(err.filename or directory),
                problem=f'cannot write the journal: {err.strerror or err}'
            ) from None

    def entries(self, uuid: str) -> list[Entry]:
        """The node's entries in order, each checked.

        :raises JournalError: naming the entry that cannot be trusted.
        """
        directory = self._directory(uuid)
        if not _exists(directory):
            return []
        _check_dir(directory)
        return [_read(path, uuid) for path in sorted(directory.iterdir())
                if _NAME.match(path.name)]

    def last_preimage(self, uuid: str) -> Entry | None:
        found = [e for e in self.entries(uuid) if e.kind == 'pre-image']
        return found[-1] if found else None

    def flat_records(self, uuid: str, name: str | None = None
                     ) -> dict[str, Inventory] | None:
        """The root's records of the classes the node's last pivot took
        off it, as they were before: what a rollback restores.

        With ``name``, a node pivoted by nested_pivot 0.1, whose journal
        was kept by node name, is found there too, among the pre-images
        of this provider uuid.
        """
        entries = self.entries(uuid) or self._legacy(uuid, name)
        for entry in reversed(entries):
            if entry.kind != 'pre-image' or 'after' not in entry.body:
                continue
            before = _root(entry, 'tree')
            after = _root(entry, 'after')
            gone = sorted(set(before) - set(after))
            if gone:
                return {rc: _record(entry, rc, before[rc]) for rc in gone}
        return None

    def children(self, uuid: str, name: str | None = None) -> set[str]:
        """The uuids of every child the node's pivots gave it: what a
        rollback must remove, whatever the children's names and uuids
        are now, or the layout that made them.

        An entry written before the pre-image recorded them (``owned``)
        gives the children its pivot created or gave inventory to.
        """
        found: set[str] = set()
        entries = self.entries(uuid) or self._legacy(uuid, name)
        for entry in entries:
            if entry.kind != 'pre-image' or 'after' not in entry.body:
                continue
            if 'owned' in entry.body:
                found.update(entry.body['owned'])
                continue
            before = {p.get('uuid'): p for p in entry.body['tree']}
            found.update(
                p['uuid'] for p in entry.body['after']
                if p['parent'] is not None and (
                    p['uuid'] not in before
                    or before[p['uuid']]['inventory'] != p['inventory']))
        return found
    def renamed(self, uuid: str) -> frozenset[str]:
        """The names the node's pivots gave its children by renaming them:
        those children are nested_pivot's, though their uuids come from
        their former names."""
        return frozenset(
            change['to'] for entry in self.entries(uuid)
            if entry.kind == 'pre-image'
            for change in (entry.body.get('renamed') or {}).values()
            if isinstance(change, dict) and isinstance(change.get('to'),
                                                       str))

    def _legacy(self, uuid: str, name: str | None) -> list[Entry]:
        if not name:
            return []
        directory = self.state_dir / re.sub(r'[^A-Za-z0-9._-]', '_', name)
        if name in ('.', '..') or not _exists(directory):
            return []
        _check_dir(directory)
        found = [_read(path, None) for path in sorted(directory.iterdir())
                 if _NAME.match(path.name) and 'pre-image' in path.name]
        return [e for e in found if e.body.get('uuid') == uuid]

    def _directory(self, uuid: str) -> Path:
        try:
            canonical = str(uuidlib.UUID(uuid))
        except (TypeError, ValueError):
            raise exception.JournalError(
                path=str(self.state_dir),
                problem=f'{uuid!r} is not a provider uuid') from None
        return self.state_dir / canonical

    def _write(self, uuid: str, kind: str, operation: str,
               body: dict[str, Any]) -> Entry:
        directory = self._directory(uuid)
        now = datetime.datetime.now(datetime.timezone.utc)
        body = {'kind': kind, 'time': now.isoformat(),
                'operation': operation, 'version': _version(),
                'user': _user(), **body}
        text = json.dumps(body, indent=1, sort_keys=True)
        try:
            _make_dir(self.state_dir)
            _make_dir(directory)
            with _locked(directory):
                path = _durable_write(directory, kind, text)
        except OSError as err:
            raise exception.JournalError(
                path=str(err.filename or directory),
                problem=f'cannot write the journal: {err.strerror or err}'
            ) from None
        return Entry(path, kind, body)


def _version() -> str:
    try:
        return importlib.metadata.version('nested_pivot')
    except importlib.metadata.PackageNotFoundError:
        return 'unknown'


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.geteuid())


def _consumer(record: ConsumerRecord) -> dict[str, Any]:
    return {'allocations': {rp: {'resources': dict(res)}
                            for rp, res in record.allocations.items()},
            'project_id': record.project_id, 'user_id': record.user_id,
            'consumer_generation': record.consumer_generation,
            'consumer_type': record.consumer_type}


def _owned(plan: ReshapePlan) -> list[str]:
    """The children the layout owns once the plan is applied."""
    return sorted(u for u, p in plan.after.providers.items()
                  if p.parent is not None and u not in plan.foreign)


def _tree(snapshot: Snapshot) -> list[dict[str, Any]]:
    """The node's own providers: a sharing provider a layout sends a class
    to (another root) is not the node's, and the pivot leaves it be."""
    return [{'uuid': p.uuid, 'name': p.name, 'parent': p.parent,
             'generation': p.generation,
             'inventory': {rc: inv.as_dict()
                           for rc, inv in p.inventory.items()},
             'traits': sorted(p.traits)}
            for p in snapshot.providers.values()
            if p.parent is not None or p.uuid == snapshot.root]


# -- reading, with every check ---------------------------------------------

def _exists(path: Path) -> bool:
    try:
        path.lstat()
    except FileNotFoundError:
        return False
    except OSError as err:
        raise exception.JournalError(
            path=str(path), problem=err.strerror or str(err)) from None
    return True


def _check_dir(path: Path) -> None:
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        raise exception.JournalError(
            path=str(path), problem='is a symbolic link; the journal only '
                                    'follows directories it made')
    if not stat.S_ISDIR(info.st_mode):
        raise exception.JournalError(path=str(path),
                                     problem='is not a directory')
    _check_owner(path, info)


def _check_owner(path: Path, info: os.stat_result) -> None:
    if info.st_uid != os.geteuid():
        raise exception.JournalError(
            path=str(path), problem=f'belongs to uid {info.st_uid}, not to '
                                    f'the user running nested-pivot '
                                    f'(uid {os.geteuid()})')


def _read(path: Path, uuid: str | None) -> Entry:
    def fail(problem: str) -> exception.JournalError:
        return exception.JournalError(path=str(path), problem=problem)

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as err:
        raise fail(err.strerror or str(err)) from None
    with os.fdopen(fd, 'rb') as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise fail('is not a regular file')
        _check_owner(path, info)
        raw = handle.read()
    try:
        body = json.loads(raw.decode('utf-8'))
    except (UnicodeDecodeError, ValueError) as err:
        raise fail(f'not a JSON document: {err}') from None
    kind = _NAME.match(path.name).group(2)  # type: ignore[union-attr]
    if not isinstance(body, dict) or body.get('kind') != kind:
        raise fail(f'not a {kind} entry of nested_pivot')
    if uuid is not None and body.get('uuid', uuid) != uuid:
        raise fail(f'belongs to provider {body.get("uuid")}, not {uuid}')
    if kind == 'pre-image':
        problem = _preimage_problem(body)
        if problem:
            raise fail(problem)
    return Entry(path, kind, body)


_TYPE_NAMES = {str: 'a string', dict: 'a mapping', list: 'a list',
               type(None): 'null'}


def _preimage_problem(body: Mapping[str, Any]) -> str | None:
    """What is wrong with a pre-image's fields, naming the field."""
    for key in ('tree', 'after'):
        if key in body:
            problem = _tree_problem(key, body[key])
            if problem:
                return problem
    owned = body.get('owned', [])
    if not isinstance(owned, list) or not all(
            isinstance(u, str) for u in owned):
        return 'field "owned": expected a list of provider uuids'
    for key, kind in (('consumers', dict), ('moves', list)):
        if key in body and not isinstance(body[key], kind):
            return f'field "{key}": expected {_TYPE_NAMES[kind]}'
    return None


def _tree_problem(key: str, tree: Any) -> str | None:
    """What is wrong with a provider tree: each provider says its
    parent (null for the root) and its inventory; a child its uuid."""
    shape = f'"{key}" must be a list of providers with one root'
    if not isinstance(tree, list):
        return f'field "{key}" is not a list: {shape}'
    for i, provider in enumerate(tree):
        where = f'{key}[{i}]'
        if not isinstance(provider, dict):
            return f'field "{where}" is not a provider: {shape}'
        fields: dict[str, tuple[type, ...]] = {
            'parent': (str, type(None)), 'inventory': (dict,)}
        if provider.get('parent') is not None:
            fields['uuid'] = (str,)
        for field, kinds in fields.items():
            if field not in provider:
                return f'field "{where}.{field}" is missing: {shape}'
            if not isinstance(provider[field], kinds):
                expected = ' or '.join(_TYPE_NAMES[k] for k in kinds)
                return (f'field "{where}.{field}" is not {expected}: '
                        f'{shape}')
    roots = [p for p in tree if p['parent'] is None]
    if len(roots) != 1:
        return f'{len(roots)} providers without a parent: {shape}'
    return None


def _root(entry: Entry, key: str) -> dict[str, Any]:
    root = next(p for p in entry.body[key] if p['parent'] is None)
    return dict(root['inventory'])


def _record(entry: Entry, rc: str, record: Any) -> Inventory:
    try:
        return Inventory.from_value(record)
    except (TypeError, ValueError) as err:
        raise exception.JournalError(
            path=str(entry.path),
            problem=f'the root\'s {rc} record is not a valid inventory: '
                    f'{err}') from None


# -- writing -----------------------------------------------------------------

def _make_dir(path: Path) -> None:
    """``path`` as a directory of ours.  One this makes is 0700 whatever
    the umask (its parents as the umask says).  One that exists is used
    as it is, never changed: refused when it is not ours, or when others
    may write in it (a shared ``/tmp``), since they could then remove or
    plant entries."""
    made = False
    if not _exists(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
            made = True
    _check_dir(path)
    mode = stat.S_IMODE(path.lstat().st_mode)
    if made:
        os.chmod(path, 0o700)
    elif mode & 0o022:
        raise exception.JournalError(
            path=str(path),
            problem=f'others may write in it (mode {mode:04o}): the '
                    f'journal needs a directory that only its user can '
                    f'write. Give --state-dir a directory of your own '
                    f'(one that does not exist yet is created 0700), or '
                    f'take the write permission away from others (chmod '
                    f'go-w). Its mode was not changed')


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    fd = os.open(directory / '.lock',
                 os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _durable_write(directory: Path, kind: str, text: str) -> Path:
    # Order matters: the data reaches the disk before the name does, and
    # the name before we report the entry written.  The next number is
    # taken under the node's lock, and os.link never replaces an entry.
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.tmp-')
    try:
        with os.fdopen(fd, 'w') as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        path = directory / f'{_next_number(directory):06d}-{kind}.json'
        os.link(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def _next_number(directory: Path) -> int:
    numbers = [int(m.group(1)) for m in map(_NAME.match, os.listdir(
        directory)) if m]
    return max(numbers, default=-1) + 1
