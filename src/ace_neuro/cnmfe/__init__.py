"""CNMF-E source extraction for one-photon calcium imaging, streaming and out of core.

Modules: :mod:`.params` (parameters, CaImAn names and one-photon defaults,
checked and grouped in :class:`~.params.CnmfeOptions`),
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
