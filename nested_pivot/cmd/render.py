"""Terminal output: provider trees with usage bars, moves, tables, progress.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
import time
from typing import Any
from typing import TextIO

from nested_pivot.engine.model import Snapshot
from nested_pivot.engine.plan import Move
from nested_pivot.engine.plan import ReshapePlan

Usage = dict[str, dict[str, int]]
BAR = 16


def usage_before(snapshot: Snapshot, allocations: Mapping[str, Any]
                 ) -> Usage:
    """What every consumer holds on each provider of the node."""
    usage: Usage = {u: {} for u in snapshot.providers}
    for record in allocations.values():
        for rp, entry in record.get('allocations', {}).items():
            if rp in usage:
                for rc, n in entry.get('resources', {}).items():
                    usage[rp][rc] = usage[rp].get(rc, 0) + n
    return usage


def usage_after(before: Usage, moves: Iterable[Move],
                after: Snapshot) -> Usage:
    usage: Usage = {u: dict(before.get(u, {})) for u in after.providers}
    for move in moves:
        if move.source in usage:
            usage[move.source][move.resource_class] -= move.amount
        target = usage[move.target]
        target[move.resource_class] = (target.get(move.resource_class, 0)
                                       + move.amount)
    return usage


def tree(snapshot: Snapshot, usage: Usage) -> list[str]:
    """An indented tree: each provider with a usage bar per class."""
    lines: list[str] = []

    def walk(uuid: str, head: str, tail: str) -> None:
        provider = snapshot.providers[uuid]
        traits = (f'  [{", ".join(sorted(provider.traits))}]'
                  if provider.traits else '')
        lines.append(f'{head}{provider.name}{traits}')
        kids = snapshot.children(uuid)
        gutter = tail + ('│  ' if kids else '   ')
        for rc, inv in sorted(provider.inventory.items()):
            used = usage.get(uuid, {}).get(rc, 0)
            lines.append(f'{gutter}{rc:<14} {bar(used, inv.capacity)} '
                         f'{used}/{_num(inv.capacity)}')
        for i, kid in enumerate(kids):
            last = i == len(kids) - 1
            walk(kid, tail + ('└─ ' if last else '├─ '),
                 tail + ('   ' if last else '│  '))

    walk(snapshot.root, '', '')
    return lines


def bar(used: float, capacity: float) -> str:
    share = min(1.0, used / capacity) if capacity else 1.0
    filled = round(share * BAR)
    return '[' + '#' * filled + '.' * (BAR - filled) + ']'


def moves(plan: ReshapePlan) -> list[str]:
    """One line per consumer: consumer, type, amounts, source -> target."""
    names = {u: p.name for u, p in (*plan.before.providers.items(),
                                    *plan.after.providers.items())}
    by_consumer: dict[str, list[Move]] = {}
    for move in plan.moves:
        by_consumer.setdefault(move.consumer, []).append(move)
    rows = []
    for consumer, items in sorted(by_consumer.items()):
        record = plan.allocations.get(consumer)
        kind = (record.consumer_type if record and record.consumer_type
                else '-')
        amounts = ' '.join(f'{m.resource_class}={m.amount}' for m in items)
        paths = ', '.join(sorted({f'{names[m.source]} -> {names[m.target]}'
                                  for m in items}))
        rows.append([consumer, kind, amounts, paths])
    return table(['consumer', 'type', 'moves', 'source -> target'], rows)


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
    """A progress bar with ETA on a terminal; plain lines otherwise."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.stream = stream
        self.started = time.monotonic()
        self.done = 0

    def step(self, label: str) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.started
        left = elapsed / self.done * (self.total - self.done)
        text = (f'{bar(self.done, self.total)} {self.done}/{self.total} '
                f'nodes, ETA {_clock(left)} ({label})')
        if self.stream.isatty():
            end = '\n' if self.done == self.total else ''
            self.stream.write('\r\033[K' + text + end)
        else:
            self.stream.write(text + '\n')
        self.stream.flush()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds + 0.5), 60)
    return f'{minutes // 60}:{minutes % 60:02d}:{secs:02d}'


def _num(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(value, 2)
