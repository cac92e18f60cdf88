"""Cross-day tracking: the same neurons found again in every session of a subject.

API (stable; other packages and the workflow call it)::

    from ace_neuro.tracking import (SessionFootprints, TrackingOptions, register_sessions, Registration,
                                    read_footprints, warp_to_session)

    s = SessionFootprints(name="day1", footprints=A,      # (K, H, W) non-negative, or sparse (K, H*W) + shape=
                          ids=ids,                        # (K,) int component ids of that session (default 0..K-1)
                          images={"mean": m, "correlation": c})  # optional (H, W) summary images
    s = read_footprints("results/day1/evaluate/estimates.h5")   # ours, CaImAn's .hdf5, CellReg's .mat
    reg = register_sessions([s1, s2, ...], options=TrackingOptions())   # order-independent
    reg, alignment = register_sessions(sessions, return_alignment=True)  # + AlignmentResult (name order)
    reg.assignments        # (N_tracked, S) int64: component id in each session, -1 where absent
    reg.confidence         # (N_tracked,) float64 in [0, 1] (the register score)
    reg.transforms         # per session: SessionTransform, session frame -> common space
                           #   (rotation + translation, then a smooth displacement field)
    reg.common_footprints  # scipy.sparse.csr_matrix (N_tracked, Hc*Wc): each tracked cell in the common space
    reg.common_footprints_dense()   # (N_tracked, Hc, Wc) float32
    reg.quality            # dict: false_positive, false_negative, uncertain_fraction, mean_register_score, ...
    reg.scores             # per tracked cell: register, true_positive, true_negative
    reg.save(path); Registration.load(path)   # HDF5, written atomically
    warp_to_session(footprints_common, reg.transforms[i], shape)
        # (N, Hc, Wc) -> (N, H, W) (or sparse (N, Hc*Wc) -> sparse (N, H*W)) in session i's frame

Modules: :mod:`.params` (the options), :mod:`.footprints` (sessions and readers), :mod:`.transforms` (transforms and warping),
:mod:`.align` (alignment to the common space), :mod:`.model` (P(same) model), :mod:`.assign` (candidate pairs,
grouping, scores), :mod:`.registration` (the whole), :mod:`.figures` (figures), :mod:`.report` (files).
``docs/tracking.md`` describes the method; ``benchmarks/tracking.md`` its results.
"""

from ace_neuro.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "footprints": ["SessionFootprints", "read_footprints"],
        "params": ["TrackingOptions", "ReextractOptions"],
        "registration": ["Registration", "register_sessions"],
        "transforms": ["SessionTransform", "warp_to_session"],
        "align": ["AlignmentError"],
    },
)
