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

"""Tables (markdown) and the plot (PNG) from a results file.

``python -m benchmarks.report [benchmarks/results/results.json]``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from benchmarks import common
from benchmarks import fleet
from benchmarks import host
from benchmarks import packing


def tables(results: dict[str, Any]) -> list[str]:
    lines = ['## Machine', '']
    lines += [f'- {key}: {value}' for key, value in
              results.get('machine', {}).items()]
    lines += [f'- section {name}: {s["seconds"]} s, load average '
              f'{s["load_before"]} before, {s["load_after"]} after'
              for name, s in results.get('sections', {}).items()]
    if 'host' in results:
        lines += ['', '## Host: one node, nova flow against nested_pivot',
                  '', *host.table(host.summary(results['host']))]
    if 'fleet' in results:
        lines += ['', '## Fleet', '', *fleet.table(results['fleet'])]
    if 'packing' in results:
        lines += ['', '## Packing quality on tight random hosts', '',
                  *packing.table(results['packing']), '',
                  '## Plan time of an all-move host (85% full)', '',
                  *packing.scale_table(results['packing'])]
    return lines


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use('Agg')
    from matplotlib import pyplot

    fig, axes = pyplot.subplots(2, 3, figsize=(15, 8.4))
    if 'host' in results:
        rows = host.summary(results['host'])
        _host_times(axes[0][0], rows, 'numa')
        _host_times(axes[0][1], rows, 'sriov')
        _host_requests(axes[0][2], rows)
    if 'fleet' in results:
        _fleet(axes[1][0], results['fleet'])
    if 'packing' in results:
        _packing(axes[1][1], results['packing'])
        _plan_time(axes[1][2], results['packing'])
    machine = results.get('machine', {})
    fig.suptitle(f'nested_pivot benchmarks - {machine.get("cpu", "")}, '
                 f'{machine.get("cores", "?")} cores', fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    pyplot.close(fig)


STYLE = {('http', host.NOVA): ('tab:red', '-'),
         ('http', host.ENGINE): ('tab:blue', '-'),
         ('http', host.SERIAL): ('tab:cyan', ':'),
         ('sqlite', host.NOVA): ('tab:red', '--'),
         ('sqlite', host.ENGINE): ('tab:blue', '--')}


def _host_times(ax: Any, rows: list[dict[str, Any]], case: str) -> None:
    for (backend, flow), (color, style) in STYLE.items():
        points = sorted((r['size'], r['wall']) for r in rows
                        if (r['backend'], r['case'], r['flow'])
                        == (backend, case, flow))
        if points:
            ax.plot(*zip(*points, strict=True), style, color=color,
                    marker='o', label=f'{flow} ({backend})')
    title = {'numa': 'All consumers move (2 NUMA cells)',
             'sriov': 'Few move (SR-IOV, 5% of consumers)'}[case]
    ax.set(title=title, xlabel='consumers on the node (N)',
           ylabel='pivot wall time, s')
    _log_axes(ax, sorted({r['size'] for r in rows}))
    ax.legend(fontsize=7)


def _log_axes(ax: Any, xticks: list[int]) -> None:
    from matplotlib import ticker

    ax.set(xscale='log', yscale='log')
    ax.set_xticks(xticks, [str(x) for x in xticks])
    ax.xaxis.set_minor_locator(ticker.NullLocator())
    ax.yaxis.set_major_formatter(ticker.FormatStrFormatter('%g'))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.grid(True, which='both', alpha=0.3)


def _host_requests(ax: Any, rows: list[dict[str, Any]]) -> None:
    for case, marker in (('numa', 'o'), ('sriov', 's')):
        for flow, color in ((host.NOVA, 'tab:red'),
                            (host.ENGINE, 'tab:blue')):
            points = sorted((r['size'], r['requests'], r['rewritten'])
                            for r in rows if r['backend'] == 'sqlite'
                            and (r['case'], r['flow']) == (case, flow))
            if not points:
                continue
            sizes = [p[0] for p in points]
            ax.plot(sizes, [p[1] for p in points], '-', color=color,
                    marker=marker, label=f'{flow} {case}: requests')
            ax.plot(sizes, [p[2] for p in points], ':', color=color,
                    marker=marker, label=f'{flow} {case}: rewritten')
    ax.set(title='HTTP requests and consumers rewritten',
           xlabel='consumers on the node (N)', ylabel='count')
    _log_axes(ax, sorted({r['size'] for r in rows}))
    ax.legend(fontsize=7)


def _fleet(ax: Any, rows: list[dict[str, Any]]) -> None:
    labels = [r['variant'] for r in rows]
    rates = [r['nodes_per_min'] for r in rows]
    colors = ['tab:red' if r['variant'] == fleet.NOVA else 'tab:blue'
              for r in rows]
    bars = ax.bar(range(len(rows)), rates, color=colors)
    ax.plot(range(len(rows)), [fleet.cpu_bound(r) for r in rows], '_',
            color='black', markersize=24, markeredgewidth=2,
            label='CPU bound: all cores busy')
    ax.legend(fontsize=7, loc='upper left')
    for bar, r in zip(bars, rows, strict=True):
        ax.annotate(f'{r["nodes_per_min"]:.0f}\n'
                    f'{r["peak_rss_mib"]:.0f} MiB',
                    (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    xytext=(0, -3), textcoords='offset points',
                    ha='center', va='top', fontsize=7, color='white')
    ax.set_xticks(range(len(rows)), [
        label.replace('nested-pivot ', 'apply ') for label in labels],
        fontsize=8)
    ax.set(title=f'Fleet: {rows[0]["nodes"]} nodes x {fleet.CONSUMERS} '
                 'consumers',
           ylabel='nodes per minute (labels: and peak client RSS)')
    ax.margins(y=0.2)


def _packing(ax: Any, result: dict[str, Any]) -> None:
    found = packing.summary(packing.hosts(result))
    labels = [s['consumers'] for s in found]
    width = 0.27
    for shift, key, color, label in (
            (-width, 'feasible', 'tab:gray', 'exact (CP-SAT)'),
            (0.0, 'engine', 'tab:blue', 'nested_pivot'),
            (width, 'first_fit', 'tab:orange', 'first-fit')):
        shares = [100 * s[key] / max(1, s['feasible']) for s in found]
        ax.bar([i + shift for i in range(len(found))], shares, width,
               color=color, label=label)
    ax.set_xticks(range(len(found)), labels, fontsize=8)
    ax.set(title='Tight hosts pivoted, of those CP-SAT can pivot',
           xlabel='consumers per host', ylabel='%', ylim=(0, 125))
    ax.legend(fontsize=7, loc='upper center', ncol=3)


def _plan_time(ax: Any, result: dict[str, Any]) -> None:
    for children in sorted({r['children'] for r in result['scale']}):
        points = sorted((r['consumers'], r['max'])
                        for r in result['scale']
                        if r['children'] == children)
        ax.plot(*zip(*points, strict=True), marker='o',
                label=f'{children} children')
    ax.axhline(1.0, color='tab:red', linestyle='--', label='1 s target')
    ax.set(title='Engine plan time, all consumers move (max of 3)',
           xlabel='consumers', ylabel='plan time, s')
    _log_axes(ax, sorted({r['consumers'] for r in result['scale']}))
    ax.legend(fontsize=7)


def write(results: dict[str, Any], stem: str) -> list[str]:
    """Write ``<stem>.md`` and ``<stem>.png`` under benchmarks/results."""
    lines = tables(results)
    common.RESULTS.mkdir(parents=True, exist_ok=True)
    (common.RESULTS / f'{stem}.md').write_text('\n'.join(lines) + '\n')
    plot(results, common.RESULTS / f'{stem}.png')
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('path', nargs='?',
                        default=str(common.RESULTS / 'results.json'))
    path = Path(parser.parse_args().path)
    print('\n'.join(write(json.loads(path.read_text()), path.stem)))


if __name__ == '__main__':
    main()
