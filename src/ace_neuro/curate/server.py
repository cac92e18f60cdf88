"""The curation page's local web server: Python's ``http.server``, bound to 127.0.0.1 only.

The page itself is plain HTML, JavaScript and CSS shipped with the package
(``ace_neuro/curate/static/``); it loads nothing from the network. The server
answers:

========================  ==============================================================
``GET /``                 the page (``static/index.html``); ``/static/NAME`` its files
``GET /api/summary``      every component: id, SNR, r-value, size, outline, decisions
``GET /api/image/NAME``   ``correlation``, ``mean`` or ``max`` as an 8-bit grey PNG
``GET /api/component/K``  component K's footprint (its bounding box) and traces
``GET /api/clip/K.mp4``   component K's clip, raw | denoised | residual (``.webm``: VP9)
``GET /api/movie/NAME.mp4`` the recording's movie NAME (``movies/NAME.mp4``), with byte ranges
``POST /api/save``        ``{"decisions": {"3": "reject", ...}}``: writes the curation file
``POST /api/crop``        ``{"rows": [r0, r1], "cols": [c0, c1]}``: writes ``crop_coords``
========================  ==============================================================

Every ``/api/`` request must carry the session's random token (``?token=``,
printed in the page's address), and the ``Host`` header must name this
server, so neither another local user nor a web page open in the browser can
read or change the curation.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import re
import secrets
import threading
from collections import OrderedDict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

import numpy as np

from ace_neuro.curate.clips import CLIP_FORMATS, ClipMaker
from ace_neuro.curate.data import CurationData, crop_coords_from_box, write_crop_file, write_curation_file
from ace_neuro.curate.movies import MOVIE_TITLES, byte_range
from ace_neuro.io.images import display_limits

__all__ = ["CurationServer", "trace_envelope", "image_png", "used_by", "save_message"]

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
_STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8"}
#: Points per trace sent to the page: longer traces are reduced to their min / max per bin.
TRACE_POINTS = 4000
_MAX_BODY = 1 << 20
#: Clips kept in memory (about 1 MB each).
CLIPS_KEPT = 32


def image_png(image: np.ndarray) -> bytes:
    """8-bit grey PNG of an image scaled to its 0.5-99.5 percentile range (OpenCV's encoder)."""
    import cv2

    lo, hi = display_limits(image)
    scaled = np.clip((np.nan_to_num(image, nan=lo) - lo) / (hi - lo) * 255.0, 0, 255).astype(np.uint8)
    ok, encoded = cv2.imencode(".png", scaled)
    if not ok:
        raise RuntimeError("OpenCV could not encode the image as PNG")
    return encoded.tobytes()


def trace_envelope(trace: np.ndarray, max_points: int = TRACE_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Frames and values of a trace reduced to at most about ``max_points`` points.

    A trace longer than ``max_points`` is cut into ``max_points // 2`` bins and
    each bin's minimum and maximum are kept (in time order), so no transient
    disappears from the plot.

    Returns
    -------
    frames : ndarray of int64, shape (n,)
    values : ndarray of float32, shape (n,)
    """
    trace = np.asarray(trace, dtype=np.float32)
    n = trace.size
    if n <= max_points:
        return np.arange(n), trace
    n_bins = max(max_points // 2, 1)
    edges = np.linspace(0, n, n_bins + 1).astype(np.int64)
    keep = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        piece = trace[lo:hi]
        keep.extend(sorted({lo + int(np.argmin(piece)), lo + int(np.argmax(piece))}))
    frames = np.asarray(keep, dtype=np.int64)
    return frames, trace[frames]


def _number(value: float, digits: int = 4) -> float | None:
    return None if not math.isfinite(value) else round(float(value), digits)


def _outline_points(line: np.ndarray) -> list[list[float]]:
    """(row, col) pixel-centre coordinates to the page's (x, y): a pixel ``(i, j)`` covers ``[j, j+1] x [i, i+1]``."""
    return np.round(line[:, ::-1] + 0.5, 2).tolist()


def _summary(data: CurationData) -> dict[str, Any]:
    centres = data.centroids()
    sizes = np.diff(data.A.indptr)
    components = []
    for k, lines in enumerate(data.contours()):
        components.append({
            "id": k,
            "snr": _number(data.snr[k], 3),
            "r": _number(data.r_values[k], 3),
            "size": int(sizes[k]),
            "centre": [_number(centres[k, 1] + 0.5, 2), _number(centres[k, 0] + 0.5, 2)],
            "auto": bool(data.auto_accepted[k]),
            "reason": data.reasons[k],
            "reason_code": data.reason_codes[k],
            "outline": [_outline_points(line) for line in lines],
        })
    images = [{"name": name, "title": title} for name, (title, _) in data.images.items()]
    return {
        "recording_id": data.recording_id,
        "dims": list(data.dims),
        "frame_rate": data.frame_rate,
        "n_frames": data.n_frames,
        "images": images,
        "max_shape": None if data.max_projection is None else list(data.max_projection.shape),
        "components": components,
        "manual": {str(k): v for k, v in sorted(data.manual.items())},
        "thresholds": data.thresholds,
        "curation_path": str(data.curation_path.resolve()),
        "used_by": used_by(data),
        "merge": data.merges,
        "split": data.splits,
        "clips": data.movie_path is not None,
        "clip_note": "" if data.movie_path is not None else
        "no clips: the motion step's corrected movie (motion/memmap) is not in the results folder",
        "movies": [{"name": name, "title": MOVIE_TITLES.get(name, name.replace("_", " "))} for name in data.movies],
        "movies_note": "" if data.movies else
        "no movies of this recording: 'snakemake all_movies' (or movies.write_movies: true) makes them",
    }


def _detail(data: CurationData, k: int) -> dict[str, Any]:
    denoised, raw = data.traces(k)
    top, left, box = data.footprint_box(k)
    c_frames, c_values = trace_envelope(denoised)
    r_frames, r_values = trace_envelope(raw)
    return {
        "id": k,
        "snr": _number(data.snr[k], 3),
        "r": _number(data.r_values[k], 3),
        "size": int(data.A.indptr[k + 1] - data.A.indptr[k]),
        "auto": bool(data.auto_accepted[k]),
        "footprint": {"top": top, "left": left, "height": int(box.shape[0]), "width": int(box.shape[1]),
                      "values": np.round(box / max(float(box.max()), 1e-12), 3).ravel().tolist()},
        "frame_rate": data.frame_rate,
        "C": {"frames": c_frames.tolist(), "values": np.round(c_values, 4).tolist()},
        "raw": {"frames": r_frames.tolist(), "values": np.round(r_values, 4).tolist()},
    }


def used_by(data: CurationData) -> str:
    """How the next workflow run finds the saved decisions (for the page and the console)."""
    if data.conventional_path:
        return (f"the next 'snakemake --cores all' uses them for recording {data.recording_id} without a sheet edit "
                "(unless its 'curation file' column names another file) and re-runs evaluate and the steps after it, "
                "nothing upstream")
    return (f"set the sample sheet's 'curation file' of recording {data.recording_id} to {data.curation_path} "
            "(relative paths are relative to the folder snakemake runs in), then 'snakemake --cores all' re-runs "
            "evaluate and the steps after it, nothing upstream")


def save_message(data: CurationData, decisions: dict[int, bool], n_merges: int = 0, n_splits: int = 0) -> str:
    """What the user does after saving: where the file is and how the next run uses it."""
    n_accept = sum(decisions.values())
    edits = f", {n_merges} merges, {n_splits} splits" if n_merges or n_splits else ""
    return (f"Saved {len(decisions)} decisions ({n_accept} accept, {len(decisions) - n_accept} reject){edits} to "
            f"{data.curation_path.resolve()}: {used_by(data)}.")


class _Handler(BaseHTTPRequestHandler):
    server: "_HTTPServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
        logger.debug("%s - %s", self.address_string(), format % args)

    # ---------------------------------------------------------------- plumbing
    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy",
                         "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload, allow_nan=False).encode(), "application/json")

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message})

    def _allowed(self, query: dict[str, list[str]]) -> bool:
        port = self.server.server_address[1]
        if self.headers.get("Host", "") not in (f"{HOST}:{port}", f"localhost:{port}"):
            self._error(HTTPStatus.FORBIDDEN, "unexpected Host header")
            return False
        token = (query.get("token") or [""])[0] or self.headers.get("X-Curate-Token", "")
        if not hmac.compare_digest(token.encode(), self.server.token.encode()):
            self._error(HTTPStatus.FORBIDDEN, "missing or wrong token: open the address ace-neuro curate printed")
            return False
        return True

    # ---------------------------------------------------------------- GET
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path in ("/", "/index.html"):
            return self._static("index.html")
        if url.path.startswith("/static/"):
            return self._static(url.path[len("/static/"):])
        if not url.path.startswith("/api/") or not self._allowed(query):
            if not url.path.startswith("/api/"):
                self._error(HTTPStatus.NOT_FOUND, f"no page {url.path}")
            return
        data = self.server.data
        try:
            if url.path == "/api/summary":
                return self._json(HTTPStatus.OK, self.server.summary())
            match = re.fullmatch(r"/api/image/(\w+)\.png", url.path)
            if match:
                return self._send(HTTPStatus.OK, self.server.png(match[1]), "image/png")
            match = re.fullmatch(r"/api/clip/(\d+)\.(mp4|webm)", url.path)
            if match:
                return self._send(HTTPStatus.OK, self.server.clip(int(match[1]), match[2]), CLIP_FORMATS[match[2]][1])
            match = re.fullmatch(r"/api/movie/(\w+)\.mp4", url.path)
            if match:
                if match[1] not in data.movies:
                    raise KeyError(f"no movie {match[1]!r} of recording {data.recording_id}")
                return self._send_file(data.movies[match[1]], "video/mp4")
            match = re.fullmatch(r"/api/component/(\d+)", url.path)
            if match:
                return self._json(HTTPStatus.OK, _detail(data, int(match[1])))
        except (BrokenPipeError, ConnectionResetError):
            return  # the page went on (another component selected) before the answer was sent
        except (KeyError, IndexError, FileNotFoundError) as err:
            return self._error(HTTPStatus.NOT_FOUND, str(err))
        except (ValueError, OSError, RuntimeError) as err:
            return self._error(HTTPStatus.INTERNAL_SERVER_ERROR, str(err))
        self._error(HTTPStatus.NOT_FOUND, f"no API {url.path}")

    def _send_file(self, path: Path, content_type: str) -> None:
        """Send a file, or the byte range the request asks for (206), in pieces: browsers seek in videos so."""
        size = path.stat().st_size
        try:
            span = byte_range(self.headers.get("Range"), size)
        except ValueError as err:
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            logger.debug("%s", err)
            return
        start, end = span if span is not None else (0, size - 1)
        self.send_response(HTTPStatus.OK if span is None else HTTPStatus.PARTIAL_CONTENT)
        self.send_header("Content-Type", content_type)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        if span is not None:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        with open(path, "rb") as file:
            file.seek(start)
            remaining = end - start + 1
            while remaining > 0:
                piece = file.read(min(remaining, 1 << 16))
                if not piece:
                    break
                self.wfile.write(piece)
                remaining -= len(piece)

    def _static(self, name: str) -> None:
        if not re.fullmatch(r"[\w.-]+", name) or Path(name).suffix not in _STATIC_TYPES:
            return self._error(HTTPStatus.NOT_FOUND, f"no file {name}")
        resource = resources.files("ace_neuro.curate").joinpath("static", name)
        if not resource.is_file():
            return self._error(HTTPStatus.NOT_FOUND, f"no file {name}")
        self._send(HTTPStatus.OK, resource.read_bytes(), _STATIC_TYPES[Path(name).suffix])

    # ---------------------------------------------------------------- POST
    def do_POST(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        if not self._allowed(parse_qs(url.query)):
            return
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= _MAX_BODY:
            return self._error(HTTPStatus.BAD_REQUEST, "expected a JSON body")
        try:
            body = json.loads(self.rfile.read(length))
            if url.path == "/api/save":
                return self._json(HTTPStatus.OK, self.server.save(body))
            if url.path == "/api/crop":
                return self._json(HTTPStatus.OK, self.server.crop(body))
        except (ValueError, KeyError, TypeError, OSError) as err:
            return self._error(HTTPStatus.BAD_REQUEST, str(err))
        self._error(HTTPStatus.NOT_FOUND, f"no API {url.path}")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, data: CurationData, port: int, on_message: Callable[[str], None]):
        super().__init__((HOST, port), _Handler)
        self.data = data
        self.token = secrets.token_urlsafe(18)
        self.on_message = on_message
        self._lock = threading.Lock()
        self._summary: dict | None = None
        self._pngs: dict[str, bytes] = {}
        self._clips: OrderedDict[tuple[int, str], bytes] = OrderedDict()
        self._clip_maker: ClipMaker | None = None
        self._clip_lock = threading.Lock()

    def summary(self) -> dict:
        with self._lock:
            if self._summary is None:
                self._summary = _summary(self.data)
            summary = dict(self._summary)
            summary["manual"] = {str(k): v for k, v in sorted(self.data.manual.items())}
            return summary

    def png(self, name: str) -> bytes:
        with self._lock:
            if name not in self._pngs:
                if name == "max" and self.data.max_projection is not None:
                    image = self.data.max_projection
                elif name in self.data.images:
                    image = self.data.images[name][1]
                else:
                    raise KeyError(f"no image {name!r}")
                self._pngs[name] = image_png(image)
            return self._pngs[name]

    def clip(self, k: int, fmt: str) -> bytes:
        """Component ``k``'s clip, made on the first request and kept (the last ``CLIPS_KEPT``)."""
        if self.data.movie_path is None:
            raise FileNotFoundError("no clips: the motion step's corrected movie is not in the results folder")
        with self._clip_lock:  # one clip at a time: each reads a few hundred frames
            if (k, fmt) not in self._clips:
                if self._clip_maker is None:
                    self._clip_maker = ClipMaker(self.data.estimates_path, self.data.movie_path)
                self._clips[(k, fmt)] = self._clip_maker.clip(k, fmt)
                while len(self._clips) > CLIPS_KEPT:
                    self._clips.popitem(last=False)
            self._clips.move_to_end((k, fmt))
            return self._clips[(k, fmt)]

    def save(self, body: dict) -> dict:
        decisions = {}
        for key, value in dict(body["decisions"]).items():
            if value not in ("accept", "reject"):
                raise ValueError(f"component {key}: decision {value!r} must be 'accept' or 'reject'")
            decisions[int(key)] = value == "accept"
        merges = [[int(k) for k in group] for group in body.get("merge") or []]
        splits = [int(k) for k in body.get("split") or []]
        with self._lock:
            path = write_curation_file(self.data.curation_path, decisions, self.data.n_found,
                                       merges=merges, splits=splits)
            self.data.manual, self.data.merges, self.data.splits = dict(decisions), merges, splits
        message = save_message(self.data, decisions, len(merges), len(splits))
        self.on_message(message)
        return {"path": str(path.resolve()), "message": message, "n_decisions": len(decisions)}

    def crop(self, body: dict) -> dict:
        if self.data.max_projection is None:
            raise ValueError("projections/max.tif is missing: no frame to crop")
        rows, cols = (tuple(int(v) for v in body[key]) for key in ("rows", "cols"))
        coords = crop_coords_from_box(rows, cols, self.data.max_projection.shape)
        value = f"{coords['x0']},{coords['y0']},{coords['x1']},{coords['y1']}"
        with self._lock:
            path = write_crop_file(self.data.crop_path, self.data.recording_id, coords)
        message = (
            f"crop_coords {value} (x = column from the left, y = row from the bottom) written to {path.resolve()} "
            f"as a sample-sheet row: set crop to TRUE and crop_coords to \"{value}\" for recording "
            f"{self.data.recording_id}. A new crop re-runs preprocess and every step after it; the component ids "
            "change, so curate again afterwards."
        )
        self.on_message(message)
        return {"crop_coords": coords, "value": value, "path": str(path.resolve()), "message": message}


class CurationServer:
    """Serve the curation page of one recording on ``http://127.0.0.1:PORT``.

    Parameters
    ----------
    data : CurationData
        From :func:`ace_neuro.curate.data.open_results`.
    port : int
        0 (default) picks a free port.
    on_message : callable, optional
        Called with each save / crop message (the command line prints them).

    Examples
    --------
    ``server = CurationServer(open_results("results/demo")); print(server.url);
    server.serve_forever()`` (``start()`` serves from a background thread,
    ``close()`` stops).
    """

    def __init__(self, data: CurationData, *, port: int = 0, on_message: Callable[[str], None] | None = None):
        self._httpd = _HTTPServer(data, port, on_message or (lambda message: logger.info("%s", message)))
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The page's address, with the session token."""
        return f"http://{HOST}:{self.port}/?token={self._httpd.token}"

    def serve_forever(self) -> None:
        """Answer requests until :meth:`close` (or Ctrl+C in the calling thread)."""
        self._httpd.serve_forever(poll_interval=0.2)

    def start(self) -> "CurationServer":
        """Serve from a daemon thread and return at once."""
        self._thread = threading.Thread(target=self.serve_forever, name="ace-neuro-curate", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> "CurationServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
