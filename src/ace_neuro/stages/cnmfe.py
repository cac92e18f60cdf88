"""Stage ``cnmfe``: CNMF-E source extraction on the motion-corrected memory map.

A lab's CaImAn parameter sheet carries over: every key that CaImAn has keeps
its name and meaning; defaults are those of CaImAn's one-photon (CNMF-E) demo;
keys of our own are marked "(ace-neuro)".

Inputs: ``movie`` (the motion step's memmap folder), ``metadata`` (frame rate),
``motion_metrics`` (the border left by motion correction); with
``patch_jobs``, ``setup`` and ``patches`` (the ``cnmfe_setup`` and
``cnmfe_patch`` jobs' files, merged here instead of fitting). Outputs:
``estimates``, ``params``, ``correlation``, ``pnr``, ``correlation_png``,
``pnr_png``, ``contours``.
"""

from __future__ import annotations

from ace_neuro.cnmfe.params import CnmfeOptions

NAME = "cnmfe"
OPTIONS = CnmfeOptions


def run(inputs, outputs, options: CnmfeOptions, *, threads: int = 1, log=None) -> None:
    """Fit CNMF-E on the memory map of ``inputs.movie`` and write the rule's outputs."""
    if options.cnmfe_engine == "caiman":
        from ace_neuro.engines.caiman import run_cnmfe

        run_cnmfe(inputs.movie, estimates=outputs.estimates, params_json=outputs.params,
                  correlation=outputs.correlation, correlation_png=outputs.correlation_png, pnr=outputs.pnr,
                  pnr_png=outputs.pnr_png, contours=outputs.contours, options=options, metadata=inputs.metadata,
                  motion_metrics=inputs.motion_metrics, threads=threads, log=log)
        return
    from pathlib import Path

    from ace_neuro.cnmfe.pipeline import run_cnmfe_step
    from ace_neuro.io.disk import check_free_space
    from ace_neuro.io.memmap import find_corrected_movie, parse_blocks_name, parse_caiman_memmap_name
    from ace_neuro.resources import estimate

    movie = find_corrected_movie(inputs.movie)
    parse = parse_blocks_name if movie.suffix == ".blocks" else parse_caiman_memmap_name
    height, width, n_frames = parse(movie)[:3]
    needed_mb = estimate("cnmfe", n_frames, height, width, options=options)["disk_mb"]
    check_free_space(Path(outputs.estimates).parent, needed_mb * 10**6, what="cnmfe")
    run_cnmfe_step(
        inputs.movie,
        options,
        estimates_path=outputs.estimates,
        params_path=outputs.params,
        correlation_paths=(outputs.correlation, outputs.correlation_png),
        pnr_paths=(outputs.pnr, outputs.pnr_png),
        contours_path=outputs.contours,
        threads=threads,
        metadata_path=inputs.metadata,
        motion_metrics_path=inputs.motion_metrics,
        patch_fits=(inputs.setup, list(inputs.patches)) if options.patch_jobs else None,
        log=log,
    )
