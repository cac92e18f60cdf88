"""The Snakemake script of every rule: run the stage module named like the rule.

Everything a stage needs arrives through Snakemake: named inputs and outputs,
``params.p`` (the stage's parameters, validated at start-up, as plain values;
the job builds the stage's options object from them once) and any other
named ``params`` (extras such as the recording folder), ``threads`` and
``log``. The body is guarded by ``__name__ == "__main__"``: steps that spawn
worker processes re-import this file under another name.
"""

import importlib

from ace_neuro.io.atomic import remove_outputs
from ace_neuro.io.disk import explain_disk_full, terminate_as_error
from ace_neuro.logs import logged_step
from ace_neuro.process_exit import skip_collection_at_exit
from ace_neuro.stages import build_options


def main(smk) -> None:
    skip_collection_at_exit()  # the next job starts when this process has ended (ace_neuro.process_exit)
    name = smk.params.get("stage") or smk.rule  # a rule reusing a stage under another name says which
    stage = importlib.import_module(f"ace_neuro.stages.{name}")
    extras = {key: value for key, value in smk.params.items() if key not in ("p", "stage")}
    # SIGTERM (a cluster's time limit, Snakemake stopping) raises, so partial outputs are removed as on an error;
    # a full disk (ENOSPC) anywhere in the step is reported with the file and the free space
    try:
        with (
            logged_step(smk.log[0], smk.rule) as log,
            terminate_as_error(),
            explain_disk_full(smk.output[0], what=smk.rule),
        ):
            options = build_options(stage, smk.params.p)  # the values were validated at start-up
            stage.run(smk.input, smk.output, options, threads=smk.threads, log=log, **extras)
    except BaseException:  # outputs published before the failure (or SIGTERM) are not a result
        remove_outputs(smk.output)
        raise


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by Snakemake)
