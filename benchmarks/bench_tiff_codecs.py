"""How far a uint8 movie compresses losslessly frame by frame, and at what CPU (issue 23 item 2: the converted TIFF).

Reads the first ``N`` frames of a TIFF and compresses each frame with zlib (level 1) and, when the ``zstandard``
package imports, zstd (levels 1 and 3): the compressed size as a fraction of the raw one and the CPU MB/s of raw
data to compress and to decompress.

Usage::

    .venv/bin/python benchmarks/bench_tiff_codecs.py results/<id>/convert/movie.tif [--frames 300]
"""

from __future__ import annotations

import argparse
import time
import zlib

import numpy as np
import tifffile


def measure(frames: np.ndarray, compress, decompress) -> tuple[float, float, float]:
    """(compressed / raw, compress MB/s, decompress MB/s) in CPU time over every frame of ``frames``."""
    raw = frames.nbytes
    start = time.process_time()
    packed = [compress(frame.tobytes()) for frame in frames]
    packing = time.process_time() - start
    start = time.process_time()
    for item in packed:
        decompress(item)
    unpacking = time.process_time() - start
    return sum(map(len, packed)) / raw, raw / 1e6 / packing, raw / 1e6 / unpacking


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("movie", help="a uint8 TIFF (T, H, W)")
    parser.add_argument("--frames", type=int, default=300)
    args = parser.parse_args()
    with tifffile.TiffFile(args.movie) as tif:
        pages = tif.pages if len(tif.pages) > 1 else None
        frames = (np.stack([pages[i].asarray() for i in range(min(args.frames, len(pages)))]) if pages is not None
                  else tif.asarray()[: args.frames])
    codecs = {"zlib 1": (lambda b: zlib.compress(b, 1), zlib.decompress)}
    try:
        import zstandard

        for level in (1, 3):
            codecs[f"zstd {level}"] = (zstandard.ZstdCompressor(level=level).compress,
                                       zstandard.ZstdDecompressor().decompress)
    except ImportError:
        print("zstandard not installed: zlib only")
    print(f"{args.movie}: {frames.shape} {frames.dtype}, values {frames.min()}-{frames.max()}")
    for name, (compress, decompress) in codecs.items():
        ratio, packing, unpacking = measure(frames, compress, decompress)
        print(f"{name}: {ratio:.3f} of the raw size, compress {packing:.0f} MB/s, decompress {unpacking:.0f} MB/s (CPU)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
