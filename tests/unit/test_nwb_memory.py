"""The nwb writer's memory does not grow with the recording: trace series and events table written a block at a time.

Issue 23 item 1 (every rule's peak RSS flat from 1,500 to 54,000 frames). Two parts grew
(benchmarks/long_session.md "Session 15: nwb flat"): the events table (events.csv read whole, the method column as
Python strings: traced by tracemalloc) and the three trace series (hdmf's 32 MiB chunk cache per dataset kept the
uncompressed chunks of a series until it was closed: below Python, so measured as the process's peak RSS).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from datetime import datetime, timezone

import h5py
import numpy as np
import pandas as pd
import pytest


def _ophys_and_table(n_rois: int | None):
    """An NWBFile, its ophys module and a PlaneSegmentation of ``n_rois`` one-pixel masks (None: its imaging plane)."""
    from pynwb import NWBFile
    from pynwb.ophys import ImageSegmentation, OpticalChannel

    nwbfile = NWBFile(session_description="test", identifier="test", session_start_time=datetime.now(timezone.utc))
    device = nwbfile.create_device(name="scope")
    plane = nwbfile.create_imaging_plane(
        name="plane", optical_channel=OpticalChannel(name="ch", description="green", emission_lambda=525.0), description="", device=device,
        excitation_lambda=470.0, indicator="GCaMP", location="CA1", imaging_rate=20.0)
    ophys = nwbfile.create_processing_module(name="ophys", description="")
    if n_rois is None:
        return nwbfile, ophys, plane
    segmentation = ImageSegmentation(name="ImageSegmentation")
    ophys.add(segmentation)
    table = segmentation.create_plane_segmentation(name="PlaneSegmentation", description="", imaging_plane=plane)
    for k in range(n_rois):
        table.add_roi(pixel_mask=[(k, 0, 1.0)])
    return nwbfile, ophys, table


def _events_csv(path, n_events: int, n_rois: int) -> None:
    rng = np.random.default_rng(0)
    pd.DataFrame({
        "neuron": rng.integers(0, n_rois, n_events), "frame": np.arange(n_events),
        "time_s": np.arange(n_events) / 20.0, "amplitude": rng.random(n_events),
        "method": np.where(rng.random(n_events) < 0.5, "derivative", "deconvolution"),
    }).to_csv(path, index=False)


def test_events_table_equals_the_csv_and_is_read_a_block_at_a_time(tmp_path):
    from pynwb import NWBHDF5IO

    from ace_neuro.io.nwb_events import add_events

    n_events, n_rois = 200_000, 5
    _events_csv(tmp_path / "events.csv", n_events, n_rois)
    nwbfile, ophys, table = _ophys_and_table(n_rois)
    tracemalloc.start()
    add_events(ophys, table, tmp_path / "events.csv")
    with NWBHDF5IO(tmp_path / "e.nwb", "w") as io:
        io.write(nwbfile)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # Whole columns (five of 200,000 values, the method as Python strings) are > 20 MB; a block of rows ~1 MB.
    assert peak < 6 * 2**20, f"traced peak {peak / 2**20:.1f} MB while writing {n_events} events"

    events = pd.read_csv(tmp_path / "events.csv")
    with h5py.File(tmp_path / "e.nwb", "r") as h5:
        group = h5["processing/ophys/events"]
        assert group["roi"].dtype == np.int64 and group["frame"].dtype == np.int64
        assert group["time"].dtype == np.float64 and group["amplitude"].dtype == np.float64
        assert h5py.check_string_dtype(group["method"].dtype).encoding == "utf-8"
        np.testing.assert_array_equal(group["id"][()], np.arange(n_events))
        np.testing.assert_array_equal(group["roi"][()], events["neuron"].to_numpy())
        np.testing.assert_array_equal(group["frame"][()], events["frame"].to_numpy())
        np.testing.assert_array_equal(group["time"][()], events["time_s"].to_numpy())
        np.testing.assert_array_equal(group["amplitude"][()], events["amplitude"].to_numpy())
        assert group["method"].asstr()[()].tolist() == events["method"].tolist()


def test_events_naming_a_missing_component_is_refused(tmp_path):
    from ace_neuro.io.nwb_events import add_events

    _events_csv(tmp_path / "events.csv", 100, 8)
    _, ophys, table = _ophys_and_table(3)
    with pytest.raises(IndexError, match="not among the 3 components"):
        add_events(ophys, table, tmp_path / "events.csv")


#: The peak RSS is the process's VmHWM (kB): ``ru_maxrss`` of a child started by fork and exec counts the size of
#: the test's process at the fork.
_WRITE_TRACES = """
import json, sys
import numpy as np
sys.path[:0] = [{tests!r}]
from test_nwb_memory import _ophys_and_table
from pynwb import NWBHDF5IO
from ace_neuro.io.nwb_ophys import add_segmentation
nwbfile, ophys, plane = _ophys_and_table(None)
opened = []
add_segmentation(ophys, plane, {estimates!r}, {n_frames}, 'frames.csv',
                 np.arange({n_frames}) / 20.0, opened)
with NWBHDF5IO({out!r}, 'w') as io:
    io.write(nwbfile)
for blocks in opened:
    blocks.close()
hwm = [line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM:')]
print(json.dumps(int(hwm[0])))
"""


def _estimates_h5(path, n_comp: int, n_frames: int) -> None:
    """What add_segmentation reads: footprints (one pixel each), C, S, YrA (random: chunks that do not shrink)."""
    from ace_neuro.cnmfe.estimates_file import storage_options

    rng = np.random.default_rng(1)
    with h5py.File(path, "w") as h5:
        h5.attrs["dims"] = (n_comp, 1)
        for name in ("C", "S", "YrA"):  # stored as the estimates writer stores them (C, S gzip-chunked; YrA plain)
            value = rng.random((n_comp, n_frames), dtype=np.float32)
            h5.create_dataset(name, data=value, **storage_options(name, value))
        h5["SNR_comp"] = np.ones(n_comp)
        h5["r_values"] = np.ones(n_comp)
        h5["idx_components"] = np.arange(n_comp)
        a = h5.create_group("A")
        a["data"] = np.ones(n_comp, np.float32)
        a["indices"] = np.arange(n_comp, dtype=np.int32)
        a["indptr"] = np.arange(n_comp + 1, dtype=np.int32)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_trace_series_peak_rss_does_not_grow_with_the_length(tmp_path):
    from pathlib import Path

    n_comp = 100  # a series' chunk: 4,096 frames x 100 x 4 bytes = 1.6 MB
    peak_kb = {}
    for n_frames in (4 * 4096, 12 * 4096):
        _estimates_h5(tmp_path / f"e{n_frames}.h5", n_comp, n_frames)
        code = _WRITE_TRACES.format(tests=str(Path(__file__).parent), estimates=str(tmp_path / f"e{n_frames}.h5"),
                                    n_frames=n_frames, out=str(tmp_path / f"t{n_frames}.nwb"))
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        peak_kb[n_frames] = json.loads(out.stdout.strip().splitlines()[-1])
        with h5py.File(tmp_path / f"t{n_frames}.nwb", "r") as h5, h5py.File(tmp_path / f"e{n_frames}.h5", "r") as e:
            raw = h5["processing/ophys/Fluorescence/raw/data"]
            assert raw.chunks == (4096, n_comp) and raw.compression == "gzip"
            np.testing.assert_array_equal(raw[:, :8], (e["C"][:8] + e["YrA"][:8]).T)
    growth_mb = (peak_kb[12 * 4096] - peak_kb[4 * 4096]) / 1024
    # hdmf's 32 MiB chunk cache kept 8 more chunks of a series (~13 MB); written a chunk at a time: ~0.
    assert growth_mb < 8, f"peak RSS grew {growth_mb:.1f} MB from 16,384 to 49,152 frames"


def test_no_events_gives_an_empty_table(tmp_path):
    from pynwb import NWBHDF5IO

    from ace_neuro.io.nwb_events import add_events

    _events_csv(tmp_path / "events.csv", 0, 3)
    nwbfile, ophys, table = _ophys_and_table(3)
    add_events(ophys, table, tmp_path / "events.csv")
    with NWBHDF5IO(tmp_path / "e.nwb", "w") as io:
        io.write(nwbfile)
    with h5py.File(tmp_path / "e.nwb", "r") as h5:
        group = h5["processing/ophys/events"]
        assert group["id"].shape == (0,) and group["frame"].dtype == np.int64
        assert h5py.check_string_dtype(group["method"].dtype).encoding == "utf-8"
