"""Progress lines for long steps: frames done, rate and time left."""

from __future__ import annotations

import logging
import time

__all__ = ["Progress", "format_seconds"]


class Progress:
    """Log ``label: done/total frames (pct), rate frames/s, ETA`` at most every ``interval_s``.

    Parameters
    ----------
    total : int
        Number of units (frames) the step will process.
    label : str
        Name of the step, first word of every line.
    logger : logging.Logger, optional
        Where lines go; the ``ace_neuro`` logger by default.
    interval_s : float
        Minimum seconds between two lines (the last line is always written).
    unit : str
        Name of the unit, ``"frames"`` by default.
    """

    def __init__(
        self,
        total: int,
        label: str,
        logger: logging.Logger | None = None,
        interval_s: float = 5.0,
        unit: str = "frames",
    ) -> None:
        self.total = int(total)
        self.label = label
        self.logger = logger or logging.getLogger("ace_neuro")
        self.interval_s = float(interval_s)
        self.unit = unit
        self.done = 0
        self._start = time.perf_counter()
        self._last = -float("inf")

    def update(self, n: int) -> None:
        """Record ``n`` more units done; log if the interval has passed or all are done.

        A ``SIGTERM`` that library code swallowed (:func:`ace_neuro.io.disk.check_terminated`)
        is raised here, so a long step stops at its next chunk.
        """
        from ace_neuro.io.disk import check_terminated

        check_terminated()
        self.done += int(n)
        now = time.perf_counter()
        if now - self._last >= self.interval_s or self.done >= self.total:
            self._last = now
            self.logger.info(self.line(now))

    @property
    def elapsed_s(self) -> float:
        """Seconds since the progress started."""
        return time.perf_counter() - self._start

    def rate(self, now: float | None = None) -> float:
        """Units per second so far."""
        elapsed = (now if now is not None else time.perf_counter()) - self._start
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self, now: float | None = None) -> str:
        """The progress line as text."""
        rate = self.rate(now)
        pct = 100.0 * self.done / self.total if self.total else 100.0
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        return (
            f"{self.label}: {self.done}/{self.total} {self.unit} ({pct:.0f}%), "
            f"{rate:.1f} {self.unit}/s, ETA {format_seconds(left)}"
        )


def format_seconds(seconds: float) -> str:
    """``m:ss`` or ``h:mm:ss``; ``?`` for NaN or infinity (an unknown time)."""
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN, unknown
        return "?"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
