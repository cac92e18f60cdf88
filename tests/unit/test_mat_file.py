"""traces.mat written a block of columns at a time is the file scipy.io.savemat writes (after its dated header)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import scipy.sparse
from scipy.io import loadmat, savemat

from ace_neuro.postprocess.mat_file import ColumnBlocks, write_mat


def _in_blocks(matrix: np.ndarray, width: int) -> ColumnBlocks:
    return ColumnBlocks(matrix.shape, lambda: (matrix[:, s:s + width] for s in range(0, matrix.shape[1], width)))


@pytest.mark.parametrize("shape", [(7, 5000), (1, 2), (3, 1), (0, 10), (1, 1), (40, 333)])
def test_streamed_matrices_are_savemats_bytes(shape):
    rng = np.random.default_rng(1)
    C = rng.normal(size=shape).astype(np.float32)
    variables = dict(recording_id="rec", ids=np.arange(shape[0], dtype=float).reshape(1, -1), C=C, raw=C * 2,
                     longer_name=C + 1, footprints=scipy.sparse.random(30, shape[0], 0.2, format="csc",
                                                                     random_state=0),
                     time_s=np.arange(shape[1], dtype=float), parameters="{}")
    whole = io.BytesIO()
    savemat(whole, variables, do_compression=True, oned_as="column")
    streamed = io.BytesIO()
    write_mat(streamed, dict(variables, C=_in_blocks(C, 333), raw=_in_blocks(C * 2, 1000),
                             longer_name=_in_blocks(C + 1, 7)))
    assert streamed.getvalue()[128:] == whole.getvalue()[128:]  # the first 116 bytes hold the time of writing
    read = loadmat(io.BytesIO(streamed.getvalue()))
    np.testing.assert_array_equal(read["C"].reshape(shape), C)


def test_blocks_that_do_not_add_up_are_an_error():
    C = np.zeros((2, 10), np.float32)
    with pytest.raises(ValueError, match="blocks of 8 columns for 10"):
        write_mat(io.BytesIO(), {"C": ColumnBlocks(C.shape, lambda: [C[:, :8]])})
    with pytest.raises(ValueError, match=r"a block of shape \(3, 10\) for 2 rows"):
        write_mat(io.BytesIO(), {"C": ColumnBlocks(C.shape, lambda: [np.zeros((3, 10))])})
