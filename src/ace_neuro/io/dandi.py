"""What a DANDI-ready NWB file needs from the user, checked before anything is written.

DANDI (the BRAIN Initiative's archive) validates uploads with nwbinspector's
``dandi`` configuration: a file without ``subject_id``, ``species``, ``sex`` or
an age (``age`` or ``date_of_birth``), or with them in the wrong form, is
refused. These values cannot be read from a recording, so a run with
``nwb.dandi: true`` checks them at start (:func:`dandi_field_problems`, called by
:mod:`ace_neuro.preflight` and by :func:`ace_neuro.io.nwb.write_nwb`).

:func:`dandi_file_name` gives the name ``dandi organize`` gives a file
(``sub-<subject>_ses-<session>_ophys.nwb``, ``docs/nwb.md``).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Mapping, Sequence

__all__ = ["DANDI_COLUMNS", "dandi_field_problems", "dandi_file_name", "is_iso_duration"]

#: The parameters (sample-sheet columns) a DANDI-ready file needs, with what is allowed.
DANDI_COLUMNS = {
    "subject_id": "the subject's id without '/' (default: the sheet's 'subject' column, then the session "
    "metaData.json's animalName)",
    "species": "a Latin binomial ('Mus musculus', 'Rattus norvegicus') or an NCBI taxonomy URL "
    "(http://purl.obolibrary.org/obo/NCBITaxon_10090)",
    "sex": "M, F, U (unknown) or O (other)",
    "age": "an ISO 8601 duration from birth (P90D, P12W, P1Y2M) or an increasing range (P90D/P120D); or fill "
    "'date_of_birth'",
    "date_of_birth": "an ISO 8601 date and time with time zone (2024-01-15T00:00:00+01:00)",
}

# Genus and species only (DANDI's validator refuses a third word, a subspecies).
_BINOMIAL = re.compile(r"[A-Z][a-z]+ [a-z]+")
_NCBI_TAXON = re.compile(r"http://purl\.obolibrary\.org/obo/NCBITaxon_\d+")
_NUMBER = r"(\d+(?:\.\d+)?)"
# PnYnMnWnD, then T and hours, minutes, seconds; at least one part.
_DURATION = re.compile(rf"P(?=\d|T\d)(?:{_NUMBER}Y)?(?:{_NUMBER}M)?(?:{_NUMBER}W)?(?:{_NUMBER}D)?"
                       rf"(?:T(?=\d)(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?")
#: Days in each part of a duration (years and months as their mean length): only to order a range's bounds.
_DAYS = (365.25, 30.44, 7.0, 1.0, 1 / 24, 1 / 1440, 1 / 86400)
_COMMON_NAMES = {"mouse": "Mus musculus", "mice": "Mus musculus", "rat": "Rattus norvegicus",
                 "human": "Homo sapiens", "macaque": "Macaca mulatta", "marmoset": "Callithrix jacchus",
                 "zebrafish": "Danio rerio", "zebra finch": "Taeniopygia guttata"}


def _days(duration: str) -> float:
    match = _DURATION.fullmatch(duration)
    return sum(float(v) * d for v, d in zip(match.groups(), _DAYS) if v is not None)


def is_iso_duration(text: str) -> bool:
    """Whether ``text`` is an ISO 8601 duration (``P90D``, ``P1Y2M``, ``PT36H``) or a range (``P90D/P120D``).

    A range's bounds must increase; one of them may be left open (``P90D/``).

    Examples
    --------
    >>> [is_iso_duration(t) for t in ("P90D", "P12W", "P90D/P120D", "P90D/", "90 days", "P120D/P90D", "P")]
    [True, True, True, True, False, False, False]
    """
    parts = str(text).split("/")
    if len(parts) == 1:
        return _DURATION.fullmatch(parts[0]) is not None
    if len(parts) != 2 or not any(parts) or not all(_DURATION.fullmatch(p) for p in parts if p):
        return False
    return not all(parts) or _days(parts[0]) < _days(parts[1])


def _species_problem(species: str | None) -> str | None:
    if not species:
        return "missing"
    if _BINOMIAL.fullmatch(species) or _NCBI_TAXON.fullmatch(species):
        return None
    common = _COMMON_NAMES.get(species.strip().lower())
    return f"{species!r} is a common name; write {common!r}" if common else f"{species!r} is not in this form"


def _age_problem(age: str | None, date_of_birth: str | None) -> tuple[str, str] | None:
    if age:
        return None if is_iso_duration(age) else ("age", f"{age!r} is not an ISO 8601 duration")
    if date_of_birth:
        try:
            parsed = datetime.fromisoformat(str(date_of_birth))
        except ValueError:
            return "date_of_birth", f"{date_of_birth!r} is not an ISO 8601 date and time"
        return None if parsed.tzinfo is not None else ("date_of_birth", f"{date_of_birth!r} has no time zone")
    return "age", "missing (and no 'date_of_birth')"


def dandi_field_problems(fields: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The subject values a DANDI-ready file needs that are missing or not in an allowed form.

    Parameters
    ----------
    fields : mapping
        ``subject_id`` (as resolved: given, or its default), ``species``, ``sex``,
        ``age``, ``date_of_birth`` (the ``nwb`` parameters of that name; absent,
        ``None`` or ``""`` count as missing).

    Returns
    -------
    list of (column, message)
        One per problem: the parameter (sample-sheet column) to fill or fix, and
        what is wrong with what is allowed (:data:`DANDI_COLUMNS`). Empty when the
        values are fit for DANDI.
    """
    def value(name: str) -> str | None:
        text = fields.get(name)
        return None if text is None or str(text).strip() == "" else str(text).strip()

    problems: list[tuple[str, str]] = []
    if (subject_id := value("subject_id")) is None or "/" in subject_id:
        problems.append(("subject_id", "missing" if subject_id is None else f"{subject_id!r} holds a '/'"))
    if (species := _species_problem(value("species"))) is not None:
        problems.append(("species", species))
    sex = value("sex")
    if sex is None:
        problems.append(("sex", "missing"))
    elif sex not in ("M", "F", "U", "O"):
        problems.append(("sex", f"{sex!r} is not allowed"))
    if (age := _age_problem(value("age"), value("date_of_birth"))) is not None:
        problems.append(age)
    return [(column, f"{message}; DANDI needs {DANDI_COLUMNS[column]}") for column, message in problems]


def dandi_file_name(subject_id: str, session_id: str | None) -> str:
    """The path ``dandi organize`` gives one of our files: ``sub-<subject>/sub-<subject>[_ses-<session>]_ophys.nwb``.

    ``dandi organize`` replaces ``_``, ``.``, spaces and other separators in the ids
    with ``-`` and adds ``_ses-<session>`` only when the files organized together
    hold more than one session of the subject (checked with dandi 0.81.0 on a
    DANDI-ready file of the tiny workflow: ``sub-m1/sub-m1_ophys.nwb`` alone,
    ``sub-m1/sub-m1_ses-rec1_ophys.nwb`` beside a second session).

    Examples
    --------
    >>> dandi_file_name("m1", "rec_2.b")
    'sub-m1/sub-m1_ses-rec-2-b_ophys.nwb'
    """
    def clean(text: str) -> str:
        return re.sub(r"[_*\\/<>:|\"'?%@;,.\s]", "-", str(text))

    subject = clean(subject_id)
    session = f"_ses-{clean(session_id)}" if session_id else ""
    return f"sub-{subject}/sub-{subject}{session}_ophys.nwb"
