"""Helpers shared by the test lanes (importable as ``helpers``: pyproject.toml puts tests/ on the path).

- :mod:`helpers.workflow`: the one Snakemake runner, a config writer and the tiny workflow run once per session;
- :mod:`helpers.recording_folders`: small Miniscope V4 / V3 folders written from arrays;
- :mod:`helpers.curate_results`: a tiny evaluated results folder for the curation tests;
- :mod:`helpers.processes`: a child run's processes, read from /proc;
- :mod:`helpers.faults_tasks`: pool tasks that kill their worker (imported by spawned workers);
- :mod:`helpers.same_estimates`: two estimates.h5 compared dataset by dataset (also a script).
"""

from pathlib import Path

#: The repository's root folder.
ROOT = Path(__file__).resolve().parents[2]
