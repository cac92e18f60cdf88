"""Size and CPU of a run's three estimates files as the code on PYTHONPATH writes them (issue 23 item 2).

Reads ``cnmfe/estimates.h5`` and ``evaluate/estimates.h5`` of a results folder, writes them again (and the
CaImAn-layout copy of evaluate's) with this ``ace_neuro``'s writers, and prints each file's allocated size (MB) and
the best of 3 CPU times to write the three and to read back two. Run it once with main's ``src`` on PYTHONPATH and
once with a branch's to compare layouts on the same estimates.

Usage::

    PYTHONPATH=<src> .venv/bin/python benchmarks/bench_estimates_storage.py results/<id>
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from ace_neuro.cnmfe.estimates_file import load_estimates, save_estimates
from ace_neuro.io.caiman import export_caiman_hdf5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, help="a recording's results folder (results/<id>)")
    args = parser.parse_args()
    fit, evaluated = (load_estimates(args.results / stage / "estimates.h5") for stage in ("cnmfe", "evaluate"))
    sizes, write_s, read_s = {}, float("inf"), float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        paths = {"cnmfe/estimates.h5": Path(tmp) / "cnmfe.h5", "evaluate/estimates.h5": Path(tmp) / "evaluate.h5",
                 "evaluate/estimates_caiman.hdf5": Path(tmp) / "estimates_caiman.hdf5"}
        for _ in range(3):
            start = time.process_time()
            save_estimates(fit, paths["cnmfe/estimates.h5"])
            save_estimates(evaluated, paths["evaluate/estimates.h5"])
            export_caiman_hdf5(evaluated, paths["evaluate/estimates_caiman.hdf5"])
            write_s = min(write_s, time.process_time() - start)
            start = time.process_time()
            load_estimates(paths["cnmfe/estimates.h5"])
            load_estimates(paths["evaluate/estimates.h5"])
            read_s = min(read_s, time.process_time() - start)
        sizes = {name: round(os.stat(path).st_blocks * 512 / 1e6, 3) for name, path in paths.items()}
    print(json.dumps({"components": int(fit.A.shape[1]), "frames": int(fit.C.shape[1]), "mb": sizes,
                      "total_mb": round(sum(sizes.values()), 3), "write_3_cpu_s": round(write_s, 3),
                      "read_2_cpu_s": round(read_s, 3)}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
