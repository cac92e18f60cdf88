"""A tiny results folder for the curation tests, made with the engine's own functions.

Six Gaussian neurons with calcium transients in a noisy movie, plus one
footprint on an empty spot whose trace has transients the movie does not hold
(a false component); evaluated with :func:`ace_neuro.cnmfe.evaluate.evaluate_components`,
written with ``save_estimates`` and ``components_table`` where the workflow
writes them, with the correlation, mean and max images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ace_neuro.cnmfe.estimates import Estimates, footprints_to_sparse, frames_to_pixels
from ace_neuro.cnmfe.estimates_file import save_estimates
from ace_neuro.cnmfe.evaluate import components_table, evaluate_components
from ace_neuro.io.images import write_image_tiff

H, W, T, FR = 48, 56, 400, 20.0
CENTRES = [(10, 10), (12, 16), (26, 30), (36, 12), (10, 44), (38, 44)]
JUNK_CENTRE = (26, 48)


def _gauss(centre, sigma=2.2):
    rows, cols = np.mgrid[:H, :W]
    g = np.exp(-((rows - centre[0]) ** 2 + (cols - centre[1]) ** 2) / (2 * sigma**2))
    g[g < 0.05] = 0
    return (g / np.linalg.norm(g)).astype(np.float32)


def _calcium(rng, tau_s=0.5):
    spikes = (rng.random(T) < 0.5 / FR) * rng.uniform(0.6, 1.4, T)
    spikes[T // 4] = 1.0
    decay = np.exp(-1 / (tau_s * FR))
    c = np.zeros(T)
    for t in range(T):
        c[t] = (decay * c[t - 1] if t else 0) + spikes[t]
    return c


def _local_correlation(movie):
    """Mean correlation of each pixel's time series with its four neighbours."""
    z = movie - movie.mean(0)
    z /= np.maximum(z.std(0), 1e-9)
    total, count = np.zeros(movie.shape[1:]), np.zeros(movie.shape[1:])
    for dr, dc in ((0, 1), (1, 0)):
        pair = (z[:, dr:, dc:] * z[:, : H - dr, : W - dc]).mean(0)
        total[dr:, dc:] += pair
        total[: H - dr, : W - dc] += pair
        count[dr:, dc:] += 1
        count[: H - dr, : W - dc] += 1
    return (total / count).astype(np.float32)


def grid_centres(spacing: int = 6) -> list[tuple[int, int]]:
    """Many neurons on a grid (for a table longer than the window), clear of the junk component."""
    return [(r, c) for r in range(4, H - 3, spacing) for c in range(4, W - 12, spacing)]


def write_results(folder: Path, seed: int = 3, centres=None, with_movie: bool = False) -> Path:
    """Write ``folder`` as ``results/{id}`` after the evaluate step; returns it.

    ``centres`` (default ``CENTRES``) are the true neurons; the false component comes last.
    ``with_movie`` also writes the movie as the motion step's corrected movie (``motion/memmap``).
    """
    rng = np.random.default_rng(seed)
    centres = CENTRES if centres is None else centres
    footprints = np.stack([_gauss(c) for c in centres] + [_gauss(JUNK_CENTRE)])
    true_C = np.stack([40.0 * _calcium(rng) for _ in centres])
    rows, cols = np.mgrid[:H, :W]
    b0 = (60 + 0.4 * rows + 0.2 * cols).astype(np.float32)
    movie = (b0[None] + np.einsum("kt,khw->thw", true_C, footprints[:-1]) + rng.normal(0, 1.0, (T, H, W)))
    movie = movie.astype(np.float32)
    C = np.concatenate([true_C, 40.0 * _calcium(np.random.default_rng(seed + 100))[None]]).astype(np.float32)
    est = Estimates(A=footprints_to_sparse(footprints), C=C, dims=(H, W), frame_rate=FR,
                    b0=frames_to_pixels(b0[None])[:, 0], params={"decay_time": 0.5})
    Y = frames_to_pixels(movie)
    A = est.A.toarray()
    YrA = (A.T @ (Y - est.b0[:, None] - A @ C)) / (A**2).sum(0)[:, None]
    evaluated = evaluate_components(est.replace(YrA=YrA.astype(np.float32)), movie)
    folder = Path(folder)
    save_estimates(evaluated, folder / "evaluate" / "estimates.h5")
    (folder / "evaluate").mkdir(parents=True, exist_ok=True)
    components_table(evaluated).to_csv(folder / "evaluate" / "components.csv", index=False)
    write_image_tiff(folder / "cnmfe" / "correlation_image.tif", _local_correlation(movie))
    write_image_tiff(folder / "projections" / "mean.tif", movie.mean(0))
    write_image_tiff(folder / "projections" / "max.tif", movie.max(0))
    if with_movie:  # the motion step's corrected movie, for the page's clips
        from ace_neuro.io.memmap import blocks_name, create_blocks, write_blocks

        path = folder / "motion" / "memmap" / blocks_name("corrected", H, W, T, 100)
        path.parent.mkdir(parents=True, exist_ok=True)
        create_blocks(path)
        write_blocks(path, 0, movie)
    return folder


def write_movie(path, n_frames: int = 40, size: int = 64, fps: float = 20.0) -> Path:
    """A small H.264 MP4 (a bright square moving right) written by the movies step's writer, as the movies step's
    files (``results/{id}/movies/*.mp4``)."""
    from ace_neuro.movies.render import write_video

    frames = np.zeros((n_frames, size, size), np.uint8)
    for t in range(n_frames):
        left = t % (size - 16)
        frames[t, 20:40, left:left + 16] = 200
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return write_video(path, iter([frames]), (size, size), fps)


def start_chromium(width: int = 1400, height: int = 1000):
    """A headless Debian chromium driven by selenium, its window ``width`` x ``height``; returns (driver, profile)."""
    import shutil
    import tempfile

    from selenium import webdriver

    chromium = next(shutil.which(name) for name in ("chromium", "chromium-browser") if shutil.which(name))
    profile = tempfile.mkdtemp(prefix="ace-neuro-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 "--autoplay-policy=no-user-gesture-required", f"--window-size={width},{height}",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    return driver, profile


def chromium_fixture(width: int, height: int):
    """A module-scoped pytest fixture: :func:`start_chromium`'s driver, closed (and its profile removed) at the end."""
    import shutil

    import pytest

    @pytest.fixture(scope="module")
    def browser():
        driver, profile = start_chromium(width, height)
        yield driver
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)

    return browser
