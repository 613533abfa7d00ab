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

"""Terminal output: provider trees with usage bars, moves, tables, progress.

A terminal that cannot show the tree's box-drawing characters (a stdout
that is not UTF-8) gets ASCII ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
import threading
import time
from typing import Any
from typing import TextIO

from nested_pivot import exception
from nested_pivot.engine import ConsumerRecord
from nested_pivot.engine import Move
from nested_pivot.engine import ReshapePlan
from nested_pivot.engine import Snapshot
from nested_pivot.engine import Usage
from nested_pivot.layout import shown
from nested_pivot.text import plural

BAR = 16
UNICODE = ('│  ', '├─ ', '└─ ')
ASCII = ('|  ', '+- ', '`- ')


def glyphs(stream: TextIO) -> tuple[str, str, str]:
    """The tree's branches, in characters ``stream`` can write."""
    try:
        ''.join(UNICODE).encode(stream.encoding or 'ascii')
    except (LookupError, UnicodeEncodeError):
        return ASCII
    return UNICODE


def usage_before(snapshot: Snapshot,
                 records: Mapping[str, ConsumerRecord]) -> Usage:
    """What every consumer holds on each provider of the node."""
    usage: Usage = {u: {} for u in snapshot.providers}
    for record in records.values():
        for rp, resources in record.allocations.items():
            if rp in usage:
                for rc, n in resources.items():
                    usage[rp][rc] = usage[rp].get(rc, 0) + n
    return usage


def usage_after(before: Usage, plan: ReshapePlan) -> Usage:
    """The usage after ``plan``: its moves (a conversion leaves its old
    class), and its heals."""
    usage: Usage = {u: dict(before.get(u, {}))
                    for u in plan.after.providers}
    changes = [(m.source, m.converted_from or m.resource_class, -m.amount)
               for m in plan.moves]
    changes += [(m.target, m.resource_class, m.amount) for m in plan.moves]
    changes += [(h.target, h.resource_class, h.amount) for h in plan.heals]
    for uuid, rc, amount in changes:
        if uuid in usage:
            usage[uuid][rc] = usage[uuid].get(rc, 0) + amount
    return usage


def tree(snapshot: Snapshot, usage: Usage,
         branches: tuple[str, str, str] = UNICODE,
         foreign: frozenset[str] = frozenset()) -> list[str]:
    """An indented tree: each provider with a usage bar per class; the
    providers of other services are marked, as the pivot leaves them."""
    lines: list[str] = []
    down, fork, last_fork = branches

    def walk(uuid: str, head: str, tail: str) -> None:
        provider = snapshot.providers[uuid]
        traits = (f'  [{", ".join(sorted(provider.traits))}]'
                  if provider.traits else '')
        mark = '  (another service\'s: left as is)' if uuid in foreign \
            else ''
        lines.append(f'{head}{provider.name}{traits}{mark}')
        kids = snapshot.children(uuid)
        gutter = tail + (down if kids else '   ')
        for rc, inv in sorted(provider.inventory.items()):
            used = usage.get(uuid, {}).get(rc, 0)
            lines.append(f'{gutter}{rc:<14} {bar(used, inv.capacity)} '
                         f'{used}/{shown(inv.capacity)}')
        for i, kid in enumerate(kids):
            last = i == len(kids) - 1
            walk(kid, tail + (last_fork if last else fork),
                 tail + ('   ' if last else down))

    walk(snapshot.root, '', '')
    return lines


def bar(used: float, capacity: float) -> str:
    share = min(1.0, used / capacity) if capacity else 1.0
    filled = round(share * BAR)
    return '[' + '#' * filled + '.' * (BAR - filled) + ']'


def moves(plan: ReshapePlan,
          roles: Mapping[str, str] | None = None) -> list[str]:
    """One line per consumer: consumer, type (Placement's, else what
    ``roles`` say: nova's record of it), amounts, source -> target."""
    names = {u: p.name for u, p in (*plan.before.providers.items(),
                                    *plan.after.providers.items())}
    by_consumer: dict[str, list[Move]] = {}
    for move in plan.moves:
        by_consumer.setdefault(move.consumer, []).append(move)
    rows = []
    for consumer, items in sorted(by_consumer.items()):
        record = plan.allocations.get(consumer)
        known = (roles or {}).get(consumer)
        kind = (record.consumer_type if record and record.consumer_type
                and (record.consumer_type != 'unknown' or not known) else
                known.split(' ')[0].rstrip(':').upper() if known else '-')
        amounts = ' '.join(_amount(m) for m in items)
        paths = ', '.join(sorted({f'{names[m.source]} -> {names[m.target]}'
                                  for m in items}))
        rows.append([consumer, kind, amounts, paths])
    return table(['consumer', 'type', 'moves', 'source -> target'], rows)


def _amount(move: Move) -> str:
    if move.converted_from:
        return f'{move.converted_from}->{move.resource_class}={move.amount}'
    return f'{move.resource_class}={move.amount}'


def heals(plan: ReshapePlan) -> list[str]:
    """One line per heal: what each consumer gets that it never held."""
    names = {u: p.name for u, p in plan.after.providers.items()}
    rows = [[h.consumer, f'{h.resource_class}={h.amount}', names[h.target]]
            for h in plan.heals]
    return table(['consumer', 'gets', 'on'], rows)


def changes(found: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per consumer whose amounts change: before, after, why."""
    rows = [[c['consumer'], amounts(c['before']), amounts(c['after']),
             c['why'] or '-'] for c in found]
    return table(['consumer', 'before', 'after', 'why'], rows)


def reparented(plan: ReshapePlan) -> list[str]:
    names = {u: p.name for u, p in plan.after.providers.items()}
    return [f'{names[u]} moves under {names[p]}'
            for u, p in plan.reparented.items()]


def renamed(plan: ReshapePlan) -> list[str]:
    """One line per child renamed in place."""
    return [f'{plan.before.providers[u].name} is renamed {name} (in place: '
            'same provider, allocations untouched)'
            for u, name in sorted(plan.renamed.items())]


def unfit(err: exception.CannotPivot) -> list[str]:
    """One line per instance that does not fit: what it needs, and the
    free room of each child that could take it."""
    rows = []
    for item in err.unfit:
        needs = ' '.join(f'{rc}={n}' for rc, n in item.needs.items())
        free = '; '.join(f'{name}: ' + ' '.join(
            f'{rc}={n}' for rc, n in room.items())
            for name, room in item.free.items()) or 'no child admits it'
        rows.append([item.consumer, needs, free])
    return [f'{plural(len(rows), "instance")} '
            f'{"does" if len(rows) == 1 else "do"} not fit:',
            *table(['consumer', 'needs', 'free room per child'], rows)]


def amounts(moves: Mapping[str, int]) -> str:
    return ' '.join(f'{rc}={n}' for rc, n in sorted(moves.items()))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]
          ) -> list[str]:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells])
              for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return '  '.join(v.ljust(w) for v, w in zip(values, widths,
                                                     strict=True)).rstrip()

    return [line(headers), line(['-' * w for w in widths]),
            *(line(r) for r in cells)]


class Progress:
    """A progress bar with ETA on a terminal; plain lines otherwise.

    Safe to step from several threads.
    """

    def __init__(self, total: int, stream: TextIO,
                 what: str = 'nodes') -> None:
        self.total = total
        self.stream = stream
        self.what = what
        self.started = time.monotonic()
        self.done = 0
        self._lock = threading.Lock()

    def step(self, label: str) -> None:
        with self._lock:
            self._step(label)

    def _step(self, label: str) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.started
        left = elapsed / self.done * (self.total - self.done)
        text = (f'{bar(self.done, self.total)} {self.done}/{self.total} '
                f'{self.what}, ETA {_clock(left)} ({label})')
        if self.stream.isatty():
            end = '\n' if self.done == self.total else ''
            self.stream.write('\r\033[K' + text + end)
        else:
            self.stream.write(text + '\n')
        self.stream.flush()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds + 0.5), 60)
    return f'{minutes // 60}:{minutes % 60:02d}:{secs:02d}'
