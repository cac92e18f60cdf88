"""The fixed costs of the workflow's steps on one recording, in CPU seconds: imports, the convert judge, the
projections' median and previews (benchmarks/compare.md, "Session 12").

Run it with a tree's ``src`` first on ``PYTHONPATH`` to measure that tree (before / after a change: two trees from
``git archive``), on the results of a finished run of the workflow (``RESULTS/<id>``, e.g. a
``bench_compare.py speed --ours-only`` work folder's ``results/sim``)::

    PYTHONPATH=<tree>/src .venv/bin/python benchmarks/bench_fixed_costs.py /tmp/speedq11/results/sim

Each figure is the minimum (imports: of ``--repeats`` fresh interpreters) or the median (in-process work) of
``--repeats`` runs, CPU time (user + sys), so a loaded machine inflates it less than a wall time; one JSON record
on stdout. Pieces a tree does not have yet (``median_of_frames``, ``median_last_axis``, ``write_image_pngs``) are
measured the way that tree does them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: Modules each step imports on its way (its stage, its engine's modules, its outputs' writers; pyplot aside).
STEP_IMPORTS = {
    "evaluate": ["ace_neuro.stages.evaluate", "ace_neuro.cnmfe.evaluate", "ace_neuro.cnmfe.vessels",
                 "ace_neuro.cnmfe.fringes", "ace_neuro.cnmfe.outputs", "ace_neuro.cnmfe.figures"],
    "preprocess": ["ace_neuro.stages.preprocess", "ace_neuro.preprocess.movie_step"],
    "motion": ["ace_neuro.stages.motion", "ace_neuro.motion.step"],
    "projections": ["ace_neuro.stages.projections", "ace_neuro.preprocess.projections_step"],
    "convert": ["ace_neuro.stages.convert", "ace_neuro.io.convert"],
}


def import_cpu(modules: list[str], repeats: int) -> float:
    """Least CPU seconds (user + sys) of a fresh interpreter importing ``modules`` (and what its run imports).

    The evaluate stage imported ``keep_freed_memory`` from ``ace_neuro.cnmfe.pipeline`` until session 12: where
    ``ace_neuro.stages.evaluate`` still names it, that module is imported too, as the stage did.
    """
    code = "import " + ", ".join(modules)
    if "ace_neuro.stages.evaluate" in modules:
        code += ("\nimport inspect, ace_neuro.stages.evaluate as s\n"
                 "if 'cnmfe.pipeline import keep_freed_memory' in inspect.getsource(s):\n"
                 "    import ace_neuro.cnmfe.pipeline")
    code += "\nimport os; t = os.times(); print(t.user + t.system)"
    best = float("inf")
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        best = min(best, float(out.split()[-1]))
    return round(best, 3)


def _cpu(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.process_time()
        fn()
        times.append(time.process_time() - started)
    return round(statistics.median(times), 3)


def judge_cpu(movie_path: Path, repeats: int) -> float:
    """CPU seconds of convert's corrupted-frame judge over the whole movie (roughness computed beforehand)."""
    from ace_neuro.io.frame_quality import FrameQuality, chunk_roughness, chunk_saturated
    from ace_neuro.io.movie import open_movie

    movie = open_movie(movie_path)
    chunks = [np.asarray(movie[i: i + 256]) for i in range(0, movie.shape[0], 256)]
    rough = [(chunk_roughness(c), chunk_saturated(c)) for c in chunks]

    def judge():
        quality = FrameQuality()
        for r, s in rough:
            quality.judge(r, s)
        quality.finish()

    return _cpu(judge, repeats)


def median_cpu(movie_path: Path, repeats: int, n_frames: int = 1000) -> float:
    """CPU seconds of the projections' median image of ``n_frames`` evenly spaced frames, as the tree computes it."""
    from ace_neuro.io.movie import open_movie
    from ace_neuro.preprocess import projections

    movie = open_movie(movie_path)
    stack = np.asarray(movie[np.unique(np.linspace(0, movie.shape[0] - 1, n_frames).round().astype(np.int64))])
    median_of = getattr(projections, "median_last_axis", lambda v: np.median(v, axis=-1))
    rows = max(1, stack.shape[1] // 8)

    def median():
        for r in range(0, stack.shape[1], rows):
            median_of(np.ascontiguousarray(np.moveaxis(stack[:, r: r + rows], 0, -1)))

    return _cpu(median, repeats)


def previews_cpu(projections_dir: Path, repeats: int) -> float:
    """CPU seconds of the six projection previews (PNG), as the tree draws them (pyplot imported beforehand)."""
    import tifffile

    from ace_neuro.io import images

    images.pyplot()
    names = ("max", "min", "mean", "median", "std", "range")
    arrays = {n: tifffile.imread(projections_dir / f"{n}.tif") for n in names}
    folder = Path(tempfile.mkdtemp(prefix="previews_"))

    def draw():
        if hasattr(images, "write_image_pngs"):
            images.write_image_pngs({folder / f"{n}.png": (arrays[n], f"{n} projection") for n in names})
        else:
            for n in names:
                images.write_image_png(folder / f"{n}.png", arrays[n], title=f"{n} projection")

    return _cpu(draw, repeats)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path, help="RESULTS/<id> of a finished run (convert/, projections/ in it)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    import ace_neuro

    record = {
        "ace_neuro": str(Path(ace_neuro.__file__).parent), "load_before": round(os.getloadavg()[0], 1),
        "imports_cpu_s": {step: import_cpu(mods, args.repeats) for step, mods in STEP_IMPORTS.items()},
        "convert_judge_cpu_s": judge_cpu(args.results / "convert" / "movie.tif", args.repeats),
        "projections_median_cpu_s": median_cpu(args.results / "convert" / "movie.tif", args.repeats),
        "projections_previews_cpu_s": previews_cpu(args.results / "projections", args.repeats),
        "load_after": round(os.getloadavg()[0], 1),
    }
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
