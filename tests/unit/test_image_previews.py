"""PNG previews drawn through one figure are the previews drawn one figure each."""

import numpy as np
from PIL import Image

from ace_neuro.io.images import write_image_png, write_image_pngs


def _pixels(path):
    return np.asarray(Image.open(path))


def test_previews_through_one_figure_are_pixel_for_pixel_those_drawn_alone(tmp_path):
    rng = np.random.default_rng(0)
    images = {"a": rng.random((40, 60)) * 1000, "b": rng.random((40, 60)), "c": np.zeros((40, 60)),
              "d": rng.random((30, 30)) * 5, "e": rng.random((40, 60)) * 1e6}  # a change of shape, then back
    titles = {"a": "a projection", "b": None, "c": "flat", "d": "square", "e": "wide labels"}
    for name, image in images.items():
        write_image_png(tmp_path / f"alone_{name}.png", image, title=titles[name], cmap="viridis")
    write_image_pngs({tmp_path / f"shared_{name}.png": (image, titles[name]) for name, image in images.items()},
                     cmap="viridis")
    differ = [name for name in images
              if not np.array_equal(_pixels(tmp_path / f"alone_{name}.png"), _pixels(tmp_path / f"shared_{name}.png"))]
    assert differ == []
    assert _pixels(tmp_path / "shared_d.png").shape[:2] != _pixels(tmp_path / "shared_a.png").shape[:2]
