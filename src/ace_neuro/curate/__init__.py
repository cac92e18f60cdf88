"""Curation in the browser: ``ace-neuro curate results/ID``.

A local page (bound to 127.0.0.1, a free port, a per-session token) shows the
correlation and mean images with every component's outline, id and decision,
and for the selected component the reason of its automatic decision in words,
its footprint, its traces (``C`` and ``C + YrA``), SNR and r-value. Components
are accepted or rejected by click or key; saving writes the curation file the
evaluate step reads (:func:`ace_neuro.cnmfe.evaluate.read_curation_file`), by
default ``results/{id}/curation/decisions.yaml``, which the next ``snakemake``
run uses without a sheet edit: it re-runs evaluate and what follows, nothing
upstream. The
same page draws a crop box on the maximum projection and gives its
``crop_coords`` in the seed's convention.

From Python::

    from ace_neuro.curate import open_results, CurationServer
    server = CurationServer(open_results("results/demo"))
    print(server.url)
    server.serve_forever()
"""

from ace_neuro.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "data": ["CurationData", "crop_coords_from_box", "open_results", "write_crop_file", "write_curation_file"],
        "paths": ["default_curation_path"],
        "server": ["CurationServer"],
    },
)
__all__ = [*__all__, "serve"]


def serve(results_dir, *, curation_file=None, port: int = 0, open_browser: bool = False, out=print) -> None:
    """Serve the curation page of ``results_dir`` until Ctrl+C; ``out`` receives the address and every message.

    Parameters
    ----------
    results_dir : path-like
        ``results/{id}`` of a recording after the evaluate step.
    curation_file : path-like, optional
        File to write (``.csv`` or ``.yaml``); default
        ``results/{id}/curation/decisions.yaml``, which the next workflow run
        reads without a sheet edit.
    port : int
        0 picks a free port.
    open_browser : bool
        Also open the page in the default web browser.
    out : callable
        Where messages go (``print``).
    """
    from ace_neuro.curate.data import open_results
    from ace_neuro.curate.server import CurationServer, used_by

    data = open_results(results_dir, curation_file)
    with CurationServer(data, port=port, on_message=out) as server:
        out(f"curating {data.n_components} components of {data.recording_id}; decisions are saved to "
            f"{data.curation_path.resolve()}; {used_by(data)}")
        out(f"open {server.url}  (served on 127.0.0.1 only; Ctrl+C stops)")
        if open_browser:
            import webbrowser

            webbrowser.open(server.url)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            out("stopped")
