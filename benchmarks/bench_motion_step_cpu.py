"""One step of the chain alone (convert or motion), shipped defaults, for CPU seconds before / after a change.

Runs what the workflow's rule runs (``convert_recording(..., threads=N)`` or ``correct_motion(movie,
motion_outputs(out), threads=N)``) in this process, so that ``/usr/bin/time -v`` counts every process of the step
(Snakemake's benchmark records miss the CPU after their last sample: benchmarks/long_session.md, Session 10).
Compare two versions of the code with ``PYTHONPATH`` (e.g. ``git archive <commit> src | tar -x -C /tmp/before``)
and their outputs with ``cmp``.

Usage::

    PYTHONPATH=src /usr/bin/time -v .venv/bin/python benchmarks/bench_motion_step_cpu.py convert RECORDING OUT
    PYTHONPATH=src /usr/bin/time -v .venv/bin/python benchmarks/bench_motion_step_cpu.py motion OUT/movie.tif OUT2
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("convert", "motion"))
    parser.add_argument("source", help="convert: the recording folder; motion: the movie (convert/movie.tif)")
    parser.add_argument("out", type=Path, help="output folder (created)")
    parser.add_argument("--threads", type=int, default=2, help="the rule's threads (default 2)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if args.step == "convert":
        from ace_neuro.io.convert import convert_recording

        convert_recording(args.source, args.out / "movie.tif", args.out / "metadata.json", args.out / "frames.csv",
                          threads=args.threads)
    else:
        from ace_neuro.motion import correct_motion
        from ace_neuro.motion.step import motion_outputs

        correct_motion(args.source, motion_outputs(args.out), threads=args.threads)
    print(f"{args.step}: {time.perf_counter() - started:.1f} s wall", flush=True)


if __name__ == "__main__":
    main()
