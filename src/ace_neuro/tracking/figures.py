"""Figures of a registration: sessions over the common space, alignment quality, the fitted model, tracked cells.

Each function takes the arrays it shows and a path, and writes a PNG atomically.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from .model import PairModel

__all__ = ["plot_alignment", "plot_alignment_quality", "plot_model", "plot_tracked_cells"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> None:
    from ace_neuro.io.images import save_figure

    save_figure(fig, path)


def _scaled(image: np.ndarray) -> np.ndarray:
    top = float(np.percentile(image, 99.5)) if image.size else 1.0
    return np.clip(image / (top if top > 0 else 1.0), 0, 1)


def plot_alignment(alignment, path: str | os.PathLike, *, title: str = "") -> None:
    """Every session (magenta) over the mean of the others (green) in the common space, before and after.

    "Before" is the session centred in the common space, neither rotated nor moved; "after" is its full
    transform. White is where they agree. Each panel gives the session's correlation with the others.
    """
    plt = _pyplot()
    names = alignment.names or [str(i) for i in range(len(alignment.transforms))]
    n = len(names)
    fig, axes = plt.subplots(2, n, figsize=(3.2 * n, 6.6), squeeze=False)
    rows = ((alignment.raw_common_images, alignment.correlation_before, "before"),
            (alignment.common_images, alignment.correlation_nonrigid, "after"))
    for row, (images, correlations, label) in enumerate(rows):
        scaled = np.stack([_scaled(np.clip(im, 0, None)) for im in images])
        for k, name in enumerate(names):
            others = np.delete(scaled, k, axis=0).mean(axis=0) if n > 1 else np.zeros_like(scaled[k])
            ax = axes[row, k]
            ax.imshow(np.stack([scaled[k], _scaled(others), scaled[k]], axis=-1), interpolation="nearest")
            ax.set_title(f"{name} {label}\nr with the others = {correlations[k]:.2f}", fontsize=9)
            ax.set_axis_off()
    fig.suptitle(f"{title}: each session (magenta) over the others (green), common space".lstrip(": "))
    fig.tight_layout()
    _save(fig, path)


def plot_alignment_quality(alignment, path: str | os.PathLike, *, title: str = "") -> None:
    """Per session: correlation with the others before / rigid / non-rigid, the pairwise correlations, the
    rotation, translation and non-rigid field size."""
    plt = _pyplot()
    names = alignment.names or [str(i) for i in range(len(alignment.transforms))]
    n = len(names)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    x = np.arange(n)
    for offset, values, label in ((-0.27, alignment.correlation_before, "before (centred)"),
                                  (0.0, alignment.correlation_rigid, "rotation + translation"),
                                  (0.27, alignment.correlation_nonrigid, "+ non-rigid field")):
        axes[0].bar(x + offset, values, width=0.27, label=label)
    axes[0].set_xticks(x, names, rotation=30, ha="right", fontsize=8)
    axes[0].set_ylabel("correlation with the other sessions")
    axes[0].set_ylim(min(0, float(np.min(alignment.correlation_before))), 1.2)
    axes[0].legend(fontsize=8, loc="upper center", ncol=3)
    shown = axes[1].imshow(alignment.pairwise_correlation, vmin=0, vmax=1, cmap="viridis")
    for i in range(n):
        for j in range(n):
            axes[1].text(j, i, f"{alignment.pairwise_correlation[i, j]:.2f}", ha="center", va="center",
                         fontsize=7, color="w")
    axes[1].set_xticks(x, names, rotation=30, ha="right", fontsize=8)
    axes[1].set_yticks(x, names, fontsize=8)
    axes[1].set_title("pairwise correlation after pairwise alignment", fontsize=9)
    fig.colorbar(shown, ax=axes[1])
    angles = [t.angle_deg for t in alignment.transforms]
    axes[2].bar(x, alignment.field_rms, color="tab:purple")
    for i, t in enumerate(alignment.transforms):
        axes[2].text(i, alignment.field_rms[i], f"{angles[i]:+.2f} deg\n({t.shift[0]:.1f}, {t.shift[1]:.1f})",
                     ha="center", va="bottom", fontsize=7)
    axes[2].set_xticks(x, names, rotation=30, ha="right", fontsize=8)
    axes[2].set_ylabel("non-rigid field RMS (px)")
    axes[2].set_title("rotation, translation (row, col) and field size", fontsize=9)
    axes[2].set_ylim(0, max(1.0, float(np.max(alignment.field_rms, initial=0)) * 1.4))
    fig.suptitle(f"{title}: alignment quality".lstrip(": "))
    fig.tight_layout()
    _save(fig, path)


def plot_model(pairs: dict, model: dict, quality: dict, path: str | os.PathLike, *, title: str = "") -> None:
    """The fitted same/different model over the candidate pairs' distances and similarities, and P(same).

    Parameters
    ----------
    pairs, model, quality : dict
        :attr:`Registration.pairs`, :attr:`Registration.model`, :attr:`Registration.quality`.
    """
    plt = _pyplot()
    distance = np.asarray(pairs["distance"], float)
    similarity = np.asarray(pairs["similarity"], float)
    p_same = np.asarray(pairs["p_same"], float)
    fig, axes = plt.subplots(1, 4, figsize=(18, 4.2))
    if model:
        fitted = PairModel(**{**model, "beta_same": tuple(model["beta_same"]),
                              "beta_different": tuple(model["beta_different"])})
        d_grid = np.linspace(0.01, fitted.max_distance, 200)
        r_grid = np.linspace(0.005, 0.995, 200)
        import scipy.stats

        z = (np.log(d_grid) - fitted.log_mean_same) / fitted.log_sd_same
        z_max = (np.log(fitted.max_distance) - fitted.log_mean_same) / fitted.log_sd_same
        same_d = np.exp(-0.5 * z * z) / (d_grid * fitted.log_sd_same * np.sqrt(2 * np.pi)) / scipy.stats.norm.cdf(z_max)
        a = fitted.exponent_different
        diff_d = (a + 1) * d_grid ** a / fitted.max_distance ** (a + 1)
        same_r = (1 - fitted.zero_same) * scipy.stats.beta.pdf(r_grid, *fitted.beta_same)
        diff_r = (1 - fitted.zero_different) * scipy.stats.beta.pdf(r_grid, *fitted.beta_different)
        n = distance.size
        for ax, values, grid, same, diff, label in (
                (axes[0], distance, d_grid, same_d, diff_d, "centroid distance (px)"),
                (axes[1], similarity, r_grid, same_r, diff_r, "footprint similarity (cosine)")):
            bins = np.linspace(grid[0] if label.startswith("footprint") else 0, grid[-1], 50)
            ax.hist(values, bins=bins, color="0.7", label="candidate pairs")
            width = bins[1] - bins[0]
            kind = "fixed model" if fitted.source == "fixed" else "fitted"
            ax.plot(grid, n * width * fitted.prior_same * same, color="tab:red", label=f"{kind}: same cell")
            ax.plot(grid, n * width * (1 - fitted.prior_same) * diff, color="tab:blue", label=f"{kind}: different")
            ax.set_yscale("log")
            ax.set_ylim(0.5, None)
            ax.set_xlabel(label)
            ax.set_ylabel("pairs")
            ax.legend(fontsize=8)
    shown = axes[2].scatter(distance, similarity, c=p_same, s=3, cmap="coolwarm", vmin=0, vmax=1)
    fig.colorbar(shown, ax=axes[2], label="P(same)")
    axes[2].set_xlabel("centroid distance (px)")
    axes[2].set_ylabel("footprint similarity")
    axes[3].hist(p_same, bins=np.linspace(0, 1, 41), color="tab:gray")
    axes[3].axvspan(0.05, 0.95, color="tab:orange", alpha=0.15, label="uncertain (0.05 < P < 0.95)")
    axes[3].set_yscale("log")
    axes[3].set_xlabel("P(same)")
    axes[3].set_ylabel("pairs")
    axes[3].legend(fontsize=8)
    fig.suptitle(f"{title}: {quality.get('n_tracked', '?')} tracked cells; estimated false positives "
                 f"{quality.get('false_positive', float('nan')):.3f}, false negatives "
                 f"{quality.get('false_negative', float('nan')):.3f}, uncertain pairs "
                 f"{quality.get('uncertain_fraction', float('nan')):.3f}, mean register score "
                 f"{quality.get('mean_register_score', float('nan')):.3f}".lstrip(": ")
                 + ("\nP(same) from the FIXED model, not fitted (quality.json: model_note)"
                    if quality.get("model_source") == "fixed" else ""), fontsize=10)
    fig.tight_layout()
    _save(fig, path)


def plot_tracked_cells(registration, path: str | os.PathLike, *, title: str = "") -> None:
    """Tracked cells in the common space coloured by the number of sessions they were found in."""
    plt = _pyplot()
    n_sessions = len(registration.session_names)
    found = (registration.assignments >= 0).sum(axis=1)
    fp = registration.common_footprints.tocsr()
    peak = fp.max(axis=1).toarray().ravel() if fp.shape[0] else np.zeros(0)
    label = np.zeros(int(np.prod(registration.common_shape)))
    strength = np.zeros_like(label)
    for k in range(fp.shape[0]):
        lo, hi = fp.indptr[k], fp.indptr[k + 1]
        values = fp.data[lo:hi] / (peak[k] if peak[k] > 0 else 1)
        pix = fp.indices[lo:hi]
        better = values > strength[pix]
        strength[pix[better]] = values[better]
        label[pix[better]] = found[k]
    cmap = plt.get_cmap("viridis", n_sessions)
    rgb = cmap((label - 1) / max(n_sessions - 1, 1))[:, :3] * np.clip(strength, 0, 1)[:, None]
    fig, ax = plt.subplots(figsize=(8, 8 * registration.common_shape[0] / registration.common_shape[1] + 0.6))
    ax.imshow(rgb.reshape(*registration.common_shape, 3), interpolation="nearest")
    ax.set_axis_off()
    counts = np.bincount(found, minlength=n_sessions + 1)[1:]
    ax.set_title(f"{title}: {registration.n_tracked} tracked cells by number of sessions found "
                 f"(1..{n_sessions}: {', '.join(str(c) for c in counts)})".lstrip(": "), fontsize=9)
    import matplotlib.cm
    import matplotlib.colors

    fig.colorbar(matplotlib.cm.ScalarMappable(matplotlib.colors.Normalize(0.5, n_sessions + 0.5), cmap), ax=ax,
                 ticks=range(1, n_sessions + 1), label="sessions", fraction=0.04)
    fig.tight_layout()
    _save(fig, path)
