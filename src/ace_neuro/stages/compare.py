"""Stage ``compare`` (on demand, not part of the default targets): our engine and CaImAn's on one recording.

The rule ``compare`` (``results/{id}/compare/compare.json``) depends on the
motion, cnmfe and evaluate steps run by both engines into
``results/{id}/compare/{native,caiman}/`` (the CaImAn runs in
``workflow/envs/caiman.yaml``), and writes ``compare.json`` and
``compare.png`` with :func:`ace_neuro.compare.run_compare`. How to read them:
``docs/engines.md``.

Inputs: ``native``, ``caiman`` (evaluated estimates), ``native_shifts``,
``caiman_shifts``, ``correlation`` (the figure's background). Outputs:
``json``, ``figure``. Extras: ``ground_truth`` (the simulator's file, used
when it exists), ``benchmarks`` (``{engine: {step: TSV}}``).
"""

from __future__ import annotations

NAME = "compare"

#: No parameters of its own: matching uses the documented defaults (cosine overlap >= 0.5).
OPTIONS = None


def run(inputs, outputs, options: None, *, threads: int = 1, log=None, ground_truth=None, benchmarks=None) -> None:
    """Compare the two engines' results named by ``inputs`` and write ``outputs.json`` and ``outputs.figure``."""
    from ace_neuro.compare import run_compare

    benchmarks = dict(benchmarks or {})
    summary = run_compare(
        native_estimates=inputs.native, caiman_estimates=inputs.caiman,
        compare_json=outputs.json, figure=outputs.figure,
        native_shifts=inputs.native_shifts, caiman_shifts=inputs.caiman_shifts,
        native_benchmarks=benchmarks.get("native"), caiman_benchmarks=benchmarks.get("caiman"),
        ground_truth=ground_truth, correlation_image=inputs.correlation,
    )
    if log is not None:
        comp = summary["components"]
        log.info("compare: %d matched, %d only native, %d only CaImAn; median trace r %s", comp["n_matched"],
                 comp["n_only_native"], comp["n_only_caiman"], comp["median_trace_r_matched"])
