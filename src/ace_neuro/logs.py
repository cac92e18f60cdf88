"""Logging set-up shared by the command line and the workflow scripts."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from typing import Iterator

__all__ = ["configure_logging", "logged_step"]

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(log_file: str | os.PathLike | None = None, level: int = logging.INFO) -> logging.Logger:
    """Send the ``ace_neuro`` logger to ``log_file`` (appending) and to stderr.

    Returns the ``ace_neuro`` logger. Calling it again replaces the handlers,
    so a notebook can call it repeatedly.
    """
    logger = logging.getLogger("ace_neuro")
    logger.setLevel(level)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        os.makedirs(os.path.dirname(os.path.abspath(log_file)), exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="a"))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(_FORMAT))
        logger.addHandler(handler)
    logger.propagate = False
    logging.captureWarnings(True)
    return logger


@contextlib.contextmanager
def logged_step(log_file: str | os.PathLike | None, step: str) -> Iterator[logging.Logger]:
    """Run a workflow step with its log file: start and end lines, and the traceback on failure.

    Examples
    --------
    In a Snakemake script::

        with logged_step(snakemake.log[0], "convert"):
            convert_recording(...)
    """
    logger = configure_logging(log_file)
    logger.info("%s: started", step)
    start = time.perf_counter()
    try:
        yield logger
    except BaseException:  # also KeyboardInterrupt and ace_neuro.io.disk.Terminated (SIGTERM)
        logger.exception("%s: failed", step)
        raise
    logger.info("%s: done in %.1f s", step, time.perf_counter() - start)
