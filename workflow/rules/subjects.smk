# Set-up of the per-subject rules (workflow/rules/tracking.smk), done once at start: a subject's sessions from
# the sample sheet (ace_neuro.subjects), their parameters (which must agree), and the input functions.
from ace_neuro.params import ParameterError
from ace_neuro.subjects import subject_groups

SUBJECTS = subject_groups(SHEET, where=SHEET.attrs.get("path", "sample sheet"))
for _group in SUBJECTS.values():
    for _note in _group.notes:
        print(f"subject {_group.name}: {_note}")


def _subject_parameters(subject, stage):
    """A subject-level stage's parameters: its sessions' values, which must agree."""
    group = SUBJECTS[subject]
    first = PARAMETERS[group.sessions[0]][stage].as_dict()
    for rid in group.sessions[1:]:
        other = PARAMETERS[rid][stage].as_dict()
        for key, value in first.items():
            if other[key] != value:
                raise ParameterError(
                    f"subject {subject}: the sessions {group.sessions[0]} and {rid} set {stage} parameter {key!r} "
                    f"to {value!r} and {other[key]!r}; the {stage} step runs once for the subject, so give them "
                    "the same value (or none, to use the config's)"
                )
    return first


for _subject in SUBJECTS:  # disagreeing sessions stop the run at start, before any job
    for _stage in SUBJECT_STAGES:
        _subject_parameters(_subject, _stage)


def subject_params(stage):
    """Input function: the validated parameters of a subject-level stage for the job's subject."""

    def parameters(wildcards):
        return _subject_parameters(wildcards.subject, stage)

    return parameters


def subject_sessions(wildcards):
    return list(SUBJECTS[wildcards.subject].sessions)


def subject_session_files(output):
    """Input function: one output of every session of the job's subject, in session order."""

    def files(wildcards):
        return [
            expand(output, id=rid)[0] for rid in SUBJECTS[wildcards.subject].sessions
        ]

    return files


def subject_outputs():
    """Every subject-level output (the final rule's targets)."""
    targets = []
    for name, group in SUBJECTS.items():
        targets += expand(rules.register.output, subject=name)
        for rid in group.sessions:
            targets += expand(rules.reextract.output, subject=name, id=rid)
            targets += expand(rules.tracked_nwb.output, subject=name, id=rid)
    return targets
