"""The cnmfe and evaluate steps' files, written by one writer per step for both engines (ours and CaImAn's).

An engine returns an :class:`~ace_neuro.cnmfe.estimates.Estimates`;
:func:`write_cnmfe_outputs` writes ``estimates.h5``, ``params.json``, the
correlation and peak-to-noise images (TIFF, PNG) and the contour figure, and
:func:`write_evaluate_outputs` applies the manual curation and writes the
evaluated ``estimates.h5``, ``components.csv``, CaImAn's ``cnm.save()`` file
and the traces figure. Every file is written under a temporary name and
renamed when complete.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ace_neuro.cnmfe.curation import apply_curation, components_table, read_curation_file
from ace_neuro.cnmfe.estimates import Estimates
from ace_neuro.cnmfe.estimates_file import save_estimates
from ace_neuro.io.atomic import atomic_path, write_json

__all__ = ["write_cnmfe_outputs", "write_evaluate_outputs", "CNMFE_OUTPUT_KEYS"]

logger = logging.getLogger(__name__)

#: The cnmfe rule's outputs, by name.
CNMFE_OUTPUT_KEYS = ("estimates", "params", "correlation", "correlation_png", "pnr", "pnr_png", "contours")


def write_cnmfe_outputs(estimates: Estimates, outputs: Mapping[str, Any], *, params_record: Mapping[str, Any],
                        images_by: str) -> None:
    """Write the cnmfe step's files from a fit, whichever engine made it.

    Parameters
    ----------
    estimates : Estimates
        The fit (``Cn`` and ``pnr`` set: the seeding images).
    outputs : mapping
        Paths by name (:data:`CNMFE_OUTPUT_KEYS`).
    params_record : mapping
        The content of ``params.json`` (the options used and what the engine adds).
    images_by : str
        What computed the seeding images, for the figures' titles (``"filtered movie"``,
        ``"CaImAn correlation_pnr"``).
    """
    from ace_neuro.cnmfe.figures import contours_figure  # noqa: PLC0415  (matplotlib only here)
    from ace_neuro.io.images import write_image_pngs, write_image_tiff  # noqa: PLC0415

    save_estimates(estimates, outputs["estimates"])
    write_json(outputs["params"], params_record, indent=2, sort_keys=True)
    previews = {}
    for image, name, title in ((estimates.Cn, "correlation", "Local correlation"), (estimates.pnr, "pnr", "Peak-to-noise ratio")):
        write_image_tiff(outputs[name], image)
        previews[outputs[f"{name}_png"]] = (image, f"{title} ({images_by})")
    write_image_pngs(previews, cmap="viridis")  # through one figure: the same pixels
    contours_figure(estimates, outputs["contours"])


def write_evaluate_outputs(
    evaluated: Estimates,
    *,
    estimates_out: str | os.PathLike,
    components_csv: str | os.PathLike,
    caiman_out: str | os.PathLike,
    mmap_file: str | os.PathLike | None,
    curation_file: str | os.PathLike | None = None,
    decisions: Mapping[int, bool] | None = None,
    traces_png: str | os.PathLike | None = None,
) -> Estimates:
    """Apply the manual curation, then write the evaluate step's files, whichever engine evaluated.

    Parameters
    ----------
    evaluated : Estimates
        Components with ``idx_components``, ``idx_components_bad``, ``SNR_comp`` and ``r_values`` set.
    estimates_out, components_csv, caiman_out : path-like
        ``evaluate/estimates.h5``, ``components.csv``
        (:func:`~ace_neuro.cnmfe.curation.components_table`) and CaImAn's
        ``cnm.save()`` file (:func:`~ace_neuro.io.caiman.export_caiman_hdf5`).
    mmap_file : path-like or None
        The CaImAn memory map the estimates refer to (recorded in CaImAn's file), if one is kept.
    curation_file : path-like, optional
        Manual decisions (:func:`~ace_neuro.cnmfe.curation.read_curation_file`), applied last.
    decisions : mapping of int to bool, optional
        The decisions already read from ``curation_file`` (by a caller that applied its merges and splits, which
        change the number of components); read from the file when omitted.
    traces_png : path-like, optional
        The best accepted components' traces.

    Returns
    -------
    Estimates
        The curated estimates, as written.
    """
    from ace_neuro.cnmfe.figures import traces_figure  # noqa: PLC0415  (matplotlib only here)
    from ace_neuro.io.caiman import export_caiman_hdf5  # noqa: PLC0415

    curated = np.zeros(evaluated.n_components, dtype=bool)
    if curation_file:
        if decisions is None:
            decisions = read_curation_file(curation_file, evaluated.n_components)
        evaluated, curated = apply_curation(evaluated, decisions)
        logger.info("curation %s: %d decisions applied; %d accepted", curation_file, len(decisions),
                    evaluated.idx_components.size)
    save_estimates(evaluated, estimates_out)
    with atomic_path(components_csv) as tmp:
        components_table(evaluated, curated).to_csv(tmp, index=False)
    export_caiman_hdf5(evaluated, caiman_out, mmap_file=None if mmap_file is None else Path(mmap_file))
    if traces_png is not None:
        traces_figure(evaluated, traces_png)
    return evaluated
