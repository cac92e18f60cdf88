"""Tabulate the engine comparison (``results/{id}/compare/compare.json``) of one or more recordings as Markdown.

The comparison itself is the workflow's ``compare`` target, which runs our engine and CaImAn on the same
recording and records each step's time and memory (Snakemake benchmark files):

    snakemake --sdm conda results/<id>/compare/compare.json      # or, without conda, from an env with CaImAn
    python benchmarks/bench_compare.py results/<id>/compare/compare.json [...] > table.md

The table gives, per recording and engine: components found (accepted), F1 / precision / recall and median
trace r against the simulator's ground truth (when present), the shift RMSE against the true motion, wall and
CPU time and the largest peak RSS of motion + cnmfe + evaluate; then the agreement between the engines.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _fmt(value, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def rows(path: Path) -> list[str]:
    """Markdown rows of one compare.json: one per engine, then one of agreement."""
    summary = json.loads(path.read_text())
    name = path.parent.parent.name
    comp = summary["components"]
    out = []
    for engine in ("native", "caiman"):
        truth = summary.get("ground_truth", {}).get(engine, {})
        total = summary.get("cost", {}).get(engine, {}).get("total", {})
        out.append(
            f"| {name} | {engine} | {comp[f'n_{engine}']} | {_fmt(truth.get('f1'))} | {_fmt(truth.get('precision'))} | "
            f"{_fmt(truth.get('recall'))} | {_fmt(truth.get('median_trace_r'))} | {_fmt(truth.get('shift_rmse_px'))} | "
            f"{_fmt(total.get('wall_s'), '.0f')} | {_fmt(total.get('cpu_s'), '.0f')} | {_fmt(total.get('peak_rss_mb'), '.0f')} |"
        )
    motion = summary.get("motion", {})
    out.append(
        f"| {name} | agreement | {comp['n_matched']} matched, {comp['n_only_native']} only native, "
        f"{comp['n_only_caiman']} only CaImAn | | | | r {_fmt(comp['median_trace_r_matched'])} | "
        f"{_fmt(motion.get('rmse_centred_px'))} between engines | | | |"
    )
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("compare_json", nargs="+", type=Path)
    args = ap.parse_args(argv)
    print("| recording | engine | accepted | F1 | precision | recall | median trace r | shift RMSE (px) | wall s | CPU s | peak RSS (MB) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for path in args.compare_json:
        for row in rows(path):
            print(row)


if __name__ == "__main__":
    main()
