"""The Estimates container, our HDF5 file and CaImAn's cnm.save() layout."""

import json

import h5py
import numpy as np
import pytest
import scipy.sparse

from ace_neuro.io.caiman import export_caiman_hdf5
from ace_neuro.cnmfe.estimates import (
    Estimates,
    decimation_matrix,
    downsampled_dims,
    footprints_to_sparse,
    frames_to_pixels,
    pixels_to_frames,
)
from ace_neuro.cnmfe.estimates_file import load_estimates, save_estimates

H, W, T = 9, 7, 30


def _footprints():
    fp = np.zeros((3, H, W), np.float32)
    fp[0, 1:3, 1:4] = [[1, 2, 1], [0.5, 1, 0.5]]
    fp[1, 5, 5] = 3.0
    fp[2, 6:9, 0:2] = 1.0
    return fp


def _full(rng=None, ring=True):
    rng = rng or np.random.default_rng(1)
    K = 3
    ssub_B = 2
    n_ds = int(np.prod(downsampled_dims((H, W), ssub_B)))
    Wm = scipy.sparse.random(n_ds, n_ds, density=0.2, random_state=3, dtype=np.float32, format="csr")
    return Estimates(
        A=footprints_to_sparse(_footprints()),
        C=rng.random((K, T)),
        S=rng.random((K, T)),
        YrA=rng.normal(size=(K, T)),
        b0=rng.random(H * W),
        W=Wm if ring else None,
        ssub_B=ssub_B,
        bl=rng.random(K),
        c1=rng.random(K),
        g=rng.random((K, 2)),
        neurons_sn=rng.random(K),
        lam=rng.random(K),
        sn=rng.random(H * W),
        dims=(H, W),
        frame_rate=20.0,
        idx_components=np.array([0, 2]),
        idx_components_bad=np.array([1]),
        SNR_comp=np.array([5.0, 1.0, 4.0]),
        r_values=np.array([0.9, 0.1, 0.95]),
        params={"gSig": [3, 3], "min_corr": 0.8, "method_init": "corr_pnr", "rf": None, "center_psf": True},
        Cn=rng.random((H, W)),
        pnr=rng.random((H, W)),
    )


def test_pixel_order_is_caiman_fortran_order():
    frames = np.arange(2 * H * W).reshape(2, H, W)
    pix = frames_to_pixels(frames)
    assert pix.shape == (H * W, 2)
    r, c = 4, 5
    assert pix[r + c * H, 1] == frames[1, r, c]
    np.testing.assert_array_equal(pixels_to_frames(pix, (H, W)), frames)
    np.testing.assert_array_equal(pix[:, 0], frames[0].ravel(order="F"))


def test_helpers_footprints_centroids_sizes():
    e = _full()
    np.testing.assert_array_equal(e.footprints_3d(), _footprints())
    np.testing.assert_array_equal(e.footprint_image(1), _footprints()[1])
    cents = e.centroids()
    fp = _footprints()[0]
    rows, cols = np.mgrid[:H, :W]
    assert cents[0, 0] == pytest.approx((fp * rows).sum() / fp.sum())
    assert cents[0, 1] == pytest.approx((fp * cols).sum() / fp.sum())
    np.testing.assert_allclose(cents[1], [5, 5])
    np.testing.assert_allclose(cents[2], [7, 0.5])
    assert e.sizes().tolist() == [6, 1, 6]
    assert e.accepted.tolist() == [True, False, True]
    assert e.n_components == 3 and e.n_frames == T and e.n_pixels == H * W


def test_defaults_and_empty():
    e = Estimates(A=scipy.sparse.csc_matrix((H * W, 0)), C=np.zeros((0, T)), dims=(H, W), frame_rate=10)
    assert e.S.shape == (0, T) and e.YrA.shape == (0, T) and e.g.shape == (0, 0)
    assert e.b.shape == (H * W, 0) and e.f.shape == (0, T) and e.b0.shape == (H * W,)
    assert e.centroids().shape == (0, 2)
    assert e.footprints_3d().shape == (0, H, W)
    assert e.accepted.shape == (0,)
    assert e.select([]).n_components == 0


@pytest.mark.parametrize(
    "change, message",
    [
        ({"C": np.zeros((2, T))}, r"Estimates.A has shape \(63, 3\), expected \(63, 2\)"),
        ({"S": np.zeros((3, T - 1))}, r"Estimates.S has shape \(3, 29\), expected \(3, 30\)"),
        ({"b0": np.zeros(5)}, r"Estimates.b0 has shape \(5,\), expected \(63,\)"),
        ({"W": scipy.sparse.eye(63, format="csr")}, r"Estimates.W has shape \(63, 63\), expected \(20, 20\)"),
        ({"Cn": np.zeros((W, H))}, r"Estimates.Cn has shape \(7, 9\), expected \(9, 7\)"),
        ({"idx_components": np.array([0]), "idx_components_bad": np.array([1])}, "split range"),
        ({"idx_components_bad": None}, "come together"),
        ({"frame_rate": 0}, "frame_rate"),
        ({"b": np.zeros((63, 1)), "f": None}, "b and f come together"),
    ],
)
def test_shape_errors_name_the_field(change, message):
    e = _full()
    with pytest.raises(ValueError, match=message):
        e.replace(**change)


def test_select_keeps_evaluation():
    e = _full().select([2, 1])
    assert e.n_components == 2
    np.testing.assert_array_equal(e.footprints_3d(), _footprints()[[2, 1]])
    assert e.idx_components.tolist() == [0] and e.idx_components_bad.tolist() == [1]
    np.testing.assert_allclose(e.r_values, [0.95, 0.1])


def test_background_ring_model_matches_dense_computation():
    rng = np.random.default_rng(5)
    e = _full(rng)
    Y = rng.random((H * W, 4)).astype(np.float32)
    frames = np.array([3, 7, 11, 29])
    B = e.background(Y, frames)
    # independent computation: block means by loops, then repeat
    R = Y - e.A.toarray() @ e.C[:, frames] - e.b0[:, None]
    R3 = pixels_to_frames(R, (H, W))
    hb, wb = downsampled_dims((H, W), 2)
    down = np.zeros((4, hb, wb))
    for i in range(hb):
        for j in range(wb):
            down[:, i, j] = R3[:, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].mean(axis=(1, 2))
    ring = e.W.toarray() @ frames_to_pixels(down)
    up = np.repeat(np.repeat(pixels_to_frames(ring, (hb, wb)), 2, 1), 2, 2)[:, :H, :W]
    expected = e.b0[:, None] + frames_to_pixels(up)
    np.testing.assert_allclose(B, expected, rtol=1e-4, atol=1e-5)
    assert decimation_matrix((H, W), 2).shape == (hb * wb, H * W)


def test_save_load_round_trip_exact(tmp_path):
    e = _full()
    path = save_estimates(e, tmp_path / "est.h5")
    assert path.exists() and not list(tmp_path.glob(".*partial*"))
    back = load_estimates(path)
    assert back.dims == e.dims and back.frame_rate == e.frame_rate and back.ssub_B == e.ssub_B
    assert back.params == e.params
    for name in ("C", "S", "YrA", "b0", "b", "f", "bl", "c1", "g", "neurons_sn", "lam", "sn",
                 "idx_components", "idx_components_bad", "SNR_comp", "r_values", "Cn", "pnr"):
        a, b = getattr(e, name), getattr(back, name)
        assert a.dtype == b.dtype, name
        np.testing.assert_array_equal(a, b, err_msg=name)
    for name in ("A", "W"):
        a, b = getattr(e, name), getattr(back, name)
        assert (a != b).nnz == 0 and a.dtype == b.dtype and a.shape == b.shape
    with h5py.File(path) as h5:
        assert h5.attrs["format"] == "ace_neuro.estimates" and h5.attrs["format_version"] == 1
        assert "package_version" in h5.attrs
        assert set(h5["A"]) == {"data", "indices", "indptr", "shape"}


def test_numpy_parameter_values_are_stored_as_python(tmp_path):
    e = _full().replace(params={"gSig": np.array([3, 3]), "fr": np.float64(20.0), "K": np.int64(4)})
    back = load_estimates(save_estimates(e, tmp_path / "np.h5"))
    assert back.params == {"gSig": [3, 3], "fr": 20.0, "K": 4}


def test_save_load_empty_without_optional_fields(tmp_path):
    e = Estimates(A=scipy.sparse.csc_matrix((H * W, 0)), C=np.zeros((0, T)), dims=(H, W), frame_rate=10)
    back = load_estimates(save_estimates(e, tmp_path / "empty.h5"))
    assert back.n_components == 0 and back.n_frames == T and back.W is None and back.sn is None
    assert back.idx_components is None


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the cnmfe step"):
        load_estimates(tmp_path / "missing.h5")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as h5:
        h5.create_group("estimates")
        h5.create_group("params")
    with pytest.raises(ValueError, match="CaImAn cnm.save"):
        load_estimates(other)
    text = tmp_path / "text.h5"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        load_estimates(text)
    with pytest.raises(ValueError, match=r"JSON.*\['x'\]"):
        save_estimates(_full().replace(params={"x": object(), "y": 1}), tmp_path / "bad.h5")
    assert not (tmp_path / "bad.h5").exists()


def _load_like_caiman(path):
    """Read a file as caiman.utils.utils.recursively_load_dict_contents_from_group does
    (attributes first, 'NoneType' -> None, A/W groups -> sparse, dims -> tuple)."""

    def load(h5, group_path):
        out = dict(h5[group_path].attrs.items())
        for key, item in h5[group_path].items():
            if isinstance(item, h5py.Dataset):
                val = item[()]
                if isinstance(val, (bytes, str)) and val in (b"NoneType", "NoneType"):
                    out[key] = None
                elif key in ("dims", "medw", "sigma_smooth_snmf", "dxy", "max_shifts", "strides", "overlaps") and isinstance(val, np.ndarray):
                    out[key] = tuple(val)
                elif isinstance(val, np.bool_):
                    out[key] = bool(val)
                else:
                    out[key] = val
            elif key in ("A", "W", "Ab", "downscale_matrix", "upscale_matrix"):
                m = scipy.sparse.csc_matrix((item["data"][:], item["indices"][:], item["indptr"][:]), item["shape"][:])
                out[key] = m.tocsr() if key == "W" else m
            else:
                out[key] = load(h5, f"{group_path}{key}/")
        return out

    with h5py.File(path, "r") as h5:
        return load(h5, "/")


def test_export_caiman_layout(tmp_path):
    e = _full()
    path = export_caiman_hdf5(e, tmp_path / "est.hdf5", mmap_file="/data/x_d1_9_d2_7_d3_1_order_C_frames_30.mmap")
    d = _load_like_caiman(path)
    # top level as CNMF.__dict__ after cnm.save()
    assert d["dims"] == (H, W) and d["dview"] is None and d["runmode"] == "CNMF"
    assert d["skip_refinement"] is False and d["remove_very_bad_comps"] is False
    assert d["mmap_file"].endswith(".mmap")
    # params groups as CNMFParams groups
    assert set(d["params"]) >= {"data", "init", "quality", "temporal", "spatial", "patch", "merging", "preprocess"}
    assert d["params"]["data"]["fr"] == 20.0 and d["params"]["data"]["dims"] == (H, W)
    assert [f.decode() for f in d["params"]["data"]["fnames"]] == ["/data/x_d1_9_d2_7_d3_1_order_C_frames_30.mmap"]
    assert d["params"]["init"]["gSig"].tolist() == [3, 3]
    assert d["params"]["init"]["method_init"] == "corr_pnr"
    assert d["params"]["init"]["min_corr"] == 0.8
    assert d["params"]["init"]["center_psf"] is True
    assert d["params"]["patch"]["rf"] is None
    assert d["params"]["init"]["ssub_B"] == 2
    est = d["estimates"]
    assert (est["A"] != e.A).nnz == 0 and est["A"].shape == (H * W, 3)
    assert (est["W"] != e.W).nnz == 0
    np.testing.assert_array_equal(est["C"], e.C)
    np.testing.assert_array_equal(est["YrA"], e.YrA)
    np.testing.assert_array_equal(est["R"], e.YrA)
    np.testing.assert_array_equal(est["b0"], e.b0)
    np.testing.assert_array_equal(est["g"], e.g)
    np.testing.assert_array_equal(est["idx_components"], [0, 2])
    np.testing.assert_array_equal(est["r_values"], e.r_values)
    assert est["dims"] == (H, W)
    # ring model: b and f are None so CaImAn's compute_background uses W
    assert est["b"] is None and est["f"] is None
    assert est["center"] is None and est["discarded_components"] is None
    # CaImAn's compute_background infers ssub_B from the sizes
    assert est["W"].shape == (20, 20) and int(np.round(np.sqrt(H * W / est["W"].shape[0]))) == 2


def test_export_caiman_empty_and_suffix(tmp_path):
    e = Estimates(A=scipy.sparse.csc_matrix((H * W, 0)), C=np.zeros((0, T)), dims=(H, W), frame_rate=10)
    d = _load_like_caiman(export_caiman_hdf5(e, tmp_path / "e.hdf5"))
    assert d["estimates"]["A"].shape == (H * W, 0) and d["estimates"]["C"].shape == (0, T)
    assert d["estimates"]["W"] is None and d["estimates"]["f"].shape == (0, T)
    assert d["mmap_file"] is None
    with pytest.raises(ValueError, match=".hdf5"):
        export_caiman_hdf5(e, tmp_path / "e.h5")
    json.dumps(e.params)
