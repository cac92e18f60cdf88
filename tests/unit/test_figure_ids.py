"""Figures that show components name them by component id (components.csv's id), not by their accepted rank."""

from __future__ import annotations

import numpy as np
import pandas as pd

import ace_neuro.postprocess.figures as figures


def test_raster_rows_carry_component_ids(tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, path, **kw: drawn.append(fig))
    ids = np.array([3, 7, 12])
    table = pd.DataFrame({"neuron": [7, 12, 12], "frame": [1, 2, 5], "time_s": [0.1, 0.2, 0.5],
                          "amplitude": [1.0, 1.0, 1.0], "method": ["peaks"] * 3})
    figures.plot_raster(tmp_path / "raster.png", table, ids, np.linspace(0, 1, 10), ["peaks"])
    ax = drawn[0].axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["3", "7", "12"]
    assert ax.get_ylabel() == "component id"
    # each event sits on the row of its own component
    rows = ax.collections[0].get_offsets()[:, 1]
    assert [int(ids[int(r)]) for r in rows] == [7, 12, 12]


def test_many_rows_keep_ids_readable(tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, path, **kw: drawn.append(fig))
    ids = np.arange(0, 300, 3)
    figures.plot_raster(tmp_path / "raster.png", pd.DataFrame(columns=["neuron", "frame", "time_s", "amplitude",
                                                                            "method"]),
                             ids, np.linspace(0, 1, 10), ["peaks"])
    labels = [int(t.get_text()) for t in drawn[0].axes[0].get_yticklabels()]
    assert 20 <= len(labels) <= 40 and set(labels) <= set(ids.tolist()) and labels[0] == 0
