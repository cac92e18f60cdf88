"""The summary's event numbers, events.csv read a block of rows at a time, against whole-table pandas counts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ace_neuro.report import event_numbers, events_per_neuron


def test_event_numbers_equal_the_whole_table_counts(tmp_path):
    rng = np.random.default_rng(0)
    events = pd.DataFrame({"neuron": rng.integers(0, 40, 5000), "frame": np.arange(5000), "method": "derivative"})
    events.to_csv(tmp_path / "events.csv", index=False)
    # accepted ids with no events (40-44, beyond the largest id in events.csv) and rejected ones
    ids = np.arange(45)
    pd.DataFrame({"id": ids, "accepted": ids % 3 != 0}).to_csv(tmp_path / "components.csv", index=False)

    counts = events_per_neuron(tmp_path / "events.csv", block_rows=700)
    np.testing.assert_array_equal(counts, np.bincount(events["neuron"]))
    numbers = event_numbers(tmp_path / "events.csv", tmp_path / "components.csv", 120.0)
    accepted = ids[ids % 3 != 0]
    expected = float(events.groupby("neuron").size().reindex(accepted, fill_value=0).median())
    assert numbers["events"] == 5000
    assert numbers["events per accepted neuron (median)"] == expected
    assert numbers["event rate per accepted neuron (median, per min)"] == expected / 120.0 * 60.0


def test_no_events(tmp_path):
    (tmp_path / "events.csv").write_text("neuron,frame,time_s,amplitude,method\n")
    pd.DataFrame({"id": [0, 1], "accepted": [True, False]}).to_csv(tmp_path / "components.csv", index=False)
    numbers = event_numbers(tmp_path / "events.csv", tmp_path / "components.csv", 60.0)
    assert numbers["events"] == 0 and numbers["events per accepted neuron (median)"] == 0.0
