"""Resource figures per rule from the recording's size (ace_neuro.resources)."""

import pytest

from ace_neuro.cnmfe.params import CnmfeOptions
from ace_neuro.io.params import NwbOptions
from ace_neuro.motion.params import MotionOptions
from ace_neuro.preprocess.params import PreprocessOptions
from ace_neuro.resources import STAGES, estimate, movie_mb, run_disk_mb


def test_memory_is_flat_and_time_linear_in_frames():
    for stage in STAGES:
        short, long = estimate(stage, 1500, 608, 608), estimate(stage, 24000, 608, 608)
        assert set(short) == {"mem_mb", "disk_mb", "runtime", "threads"}
        assert long["mem_mb"] <= 4000, stage
        flat = [estimate(stage, n, 608, 608, n_components=0)["mem_mb"] for n in (1500, 24000)]
        assert flat[0] == flat[1], stage  # only the K x T traces grow with the length
        assert long["runtime"] <= 16 * short["runtime"] + 1, stage


def test_disk_follows_the_files_each_rule_writes():
    mb = movie_mb(6000, 608, 608)  # uint8
    assert estimate("convert", 6000, 608, 608)["disk_mb"] == pytest.approx(mb, rel=0.01)
    motion = estimate("motion", 6000, 608, 608)["disk_mb"]
    assert motion == pytest.approx(mb, rel=0.02)  # an 8-bit movie: the uint8 frame-block movie (blocks_dtype auto)
    assert estimate("motion", 6000, 608, 608, options=MotionOptions(blocks_dtype="uint8"))["disk_mb"] == motion
    wide = MotionOptions(blocks_dtype="float32")
    assert estimate("motion", 6000, 608, 608, options=wide)["disk_mb"] == pytest.approx(4 * mb, rel=0.01)
    assert estimate("motion", 6000, 608, 608, "uint16")["disk_mb"] == pytest.approx(4 * mb, rel=0.01)  # auto: float32
    with_caiman = estimate("motion", 6000, 608, 608, options=MotionOptions(save_memmap=True))["disk_mb"]
    assert with_caiman == pytest.approx(5 * mb, rel=0.01)  # and CaImAn's memory map, float32
    compact = MotionOptions(save_memmap=False, blocks_dtype="float16")
    assert estimate("motion", 6000, 608, 608, options=compact)["disk_mb"] == pytest.approx(2 * mb, rel=0.01)
    assert estimate("cnmfe", 6000, 608, 608, options=compact)["disk_mb"] < 0.03 * mb  # no seeding caches: outputs
    outputs = estimate("cnmfe", 6000, 608, 608)["disk_mb"]
    assert outputs < 0.03 * mb  # no seeding caches by default
    cached = estimate("cnmfe", 6000, 608, 608,
                      options={"motion": wide, "cnmfe": CnmfeOptions(seeding_cache=True, tsub=2)})["disk_mb"]
    assert cached - outputs == pytest.approx(4 * mb, rel=0.01)  # tsub 2: two half-length float32 caches
    auto = estimate("cnmfe", 6000, 608, 608, options={"motion": wide, "cnmfe": CnmfeOptions(seeding_cache=True)})
    assert auto["disk_mb"] - outputs == pytest.approx(8 * mb, rel=0.01)  # tsub auto (set by the frame rate): bounded by tsub 1
    # the recording's options by stage, as the workflow passes them: a float16 movie gets no caches, tsub 4 half
    float16 = {"motion": compact, "cnmfe": CnmfeOptions(seeding_cache=True)}
    assert estimate("cnmfe", 6000, 608, 608, options=float16)["disk_mb"] < 0.03 * mb
    tsub4 = estimate("cnmfe", 6000, 608, 608, options={"motion": wide, "cnmfe": CnmfeOptions(seeding_cache=True, tsub=4)})["disk_mb"]
    assert tsub4 - outputs == pytest.approx(2 * mb, rel=0.01)
    exported = estimate("export", 6000, 608, 608)["disk_mb"]  # traces.csv, traces_raw.csv, traces.mat of 500 cells
    assert exported == pytest.approx((2 * 12 + 3 * 4) * 500 * 6000 / 1e6 + 5, abs=1)
    # remove_banding auto: preprocess may write a debanded copy in the movie's dtype; off (default): a link
    assert estimate("preprocess", 6000, 608, 608, options=PreprocessOptions(remove_banding="auto"))["disk_mb"] == \
        pytest.approx(mb, rel=0.01)
    assert estimate("preprocess", 6000, 608, 608)["disk_mb"] == 0
    assert run_disk_mb(6000, 608, 608, options=compact) <= 3 * mb + 250 + exported  # and the small outputs (tables, NWB)
    assert run_disk_mb(6000, 608, 608) <= 2 * mb + 250 + exported  # defaults: the TIFF and the uint8 block movie
    uint8 = {"motion": MotionOptions(blocks_dtype="uint8"), "cnmfe": CnmfeOptions(seeding_cache=True)}
    assert estimate("cnmfe", 6000, 608, 608, options=uint8)["disk_mb"] < 0.03 * mb  # uint8 blocks: no caches either
    assert run_disk_mb(6000, 608, 608, options=wide) <= 5.5 * mb + exported  # float32 blocks
    assert run_disk_mb(6000, 608, 608, options=[MotionOptions(save_memmap=True, blocks_dtype="float32"),
                                                CnmfeOptions(seeding_cache=True, tsub=2)]) <= 13.1 * mb + exported + 250


def test_unknown_stage_or_size_is_an_error():
    with pytest.raises(ValueError, match="no resource estimate"):
        estimate("motoin", 10, 10, 10)
    with pytest.raises(ValueError, match="must be positive"):
        estimate("motion", 0, 10, 10)


def test_nwb_needs_follow_include_movie():
    linked = estimate("nwb", 54000, 608, 608)
    inside = estimate("nwb", 54000, 608, 608, options=NwbOptions(include_movie=True))
    assert linked["disk_mb"] < 300 and linked["mem_mb"] < 2000  # the traces of 500 components, gzip
    assert inside["disk_mb"] == pytest.approx(4 * movie_mb(54000, 608, 608), rel=0.01)
    assert inside["runtime"] > 60 > linked["runtime"]  # gzip of an 80 GB float32 movie takes hours, not minutes


def test_small_rules_ask_the_same_memory_at_every_length():
    """events, export and spectral read the traces a block at a time (long_session.md, Session 14: 113-232 MB at
    300 components, 1,500 to 54,000 frames), and evaluate too (Session 15: 214-229 MB at 260 components): their
    request does not grow with K x T."""
    for stage in ("events", "export", "spectral", "evaluate"):
        short, long = (estimate(stage, n, 608, 608, n_components=1000)["mem_mb"] for n in (1500, 54000))
        assert short == long >= 300


def test_disk_counts_the_results_that_grow_with_components_and_frames():
    """cnmfe's estimates file, evaluate's two and the NWB file grow with K x T (Session 14: disk); on main evaluate
    and nwb asked for a flat 20 MB, 1/30 of what evaluate wrote at 54,000 frames."""
    for stage, files in (("cnmfe", 1), ("evaluate", 2), ("nwb", 1)):
        few = estimate(stage, 54000, 608, 608, n_components=100)["disk_mb"]
        many = estimate(stage, 54000, 608, 608, n_components=500)["disk_mb"]
        assert many - few == pytest.approx(files * 8 * 400 * 54000 / 1e6, abs=2)
    few = run_disk_mb(54000, 608, 608, n_components=100)
    assert run_disk_mb(54000, 608, 608, n_components=500) - few == pytest.approx(
        (4 * 8 + 36) * 400 * 54000 / 1e6, abs=5)  # 3 estimates files and NWB, 8 bytes; export 36 (text, MATLAB)
