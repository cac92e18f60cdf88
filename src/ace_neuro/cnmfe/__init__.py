"""CNMF-E source extraction for one-photon calcium imaging, streaming and out of core.

Modules: :mod:`.params` (:class:`~.params.CnmfeOptions` and
:class:`~.params.EvaluateOptions`: the parameters, CaImAn names and one-photon
defaults, declared once and checked on construction),
:mod:`.filters` (seeding filter), :mod:`.noise` (power-spectrum noise),
:mod:`.reader` (chunked access to a CaImAn memory map), :mod:`.passes`
(streaming passes over the movie), :mod:`.init`
(correlation / peak-to-noise seeding and initialisation), :mod:`.background`
(ring model), :mod:`.spatial` and :mod:`.temporal` (alternating updates, OASIS
deconvolution), :mod:`.merge` (merging and duplicate removal), :mod:`.fit`
(the algorithm on one region), :mod:`.patches`
(overlapping patches), :mod:`.pipeline` (the whole fit and the workflow step),
:mod:`.estimates` / :mod:`.evaluate` / :mod:`.score` (results container,
component evaluation and scoring against ground truth).

References
----------
Zhou P, et al. (2018). Efficient and accurate extraction of in vivo calcium
signals from microendoscopic video data. eLife 7:e28728.
Giovannucci A, et al. (2019). CaImAn an open source tool for scalable calcium
imaging data analysis. eLife 8:e38173.
Friedrich J, Zhou P, Paninski L (2017). Fast online deconvolution of calcium
imaging data. PLoS Comput Biol 13(3):e1005423.
"""

from ace_neuro.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "params": ["CnmfeOptions", "EvaluateOptions"],
        "estimates": ["Estimates"],
        "estimates_file": ["load_estimates", "save_estimates", "recorded_options"],
        "pipeline": ["fit_cnmfe", "run_cnmfe_step"],
        "evaluate": ["evaluate_components", "classify_components", "run_evaluate_step"],
        "outputs": ["write_cnmfe_outputs", "write_evaluate_outputs"],
        "figures": ["contours_figure", "traces_figure"],
        "score": ["match_components", "detection_scores"],
    },
)
