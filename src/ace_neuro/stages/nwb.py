"""Stage ``nwb``: one Neurodata Without Borders file per recording (DANDI's format).

The subject, session and imaging-plane fields are parameters like any other:
set once in ``config.yaml`` (``nwb: species: Mus musculus``) for a whole lab, or
per recording in a sample-sheet column of the same name (``subject_id``,
``age``, ``sex``, ``location``...). None is required to write a valid file;
DANDI asks for ``species``, ``age`` (or ``date_of_birth``), ``sex`` and a brain
``location``, and the log says which are missing. ``docs/nwb.md`` describes
where everything goes.

Inputs: ``metadata``, ``frames`` (convert), ``estimates`` (evaluate),
``shifts`` (motion), ``events``, ``movie`` (the motion memory-map folder),
``mean``, ``max`` (projections), ``correlation``, ``pnr`` (cnmfe), and, for
recordings with sync, ``frames_ephys`` and ``periods``. Output: ``nwb``.
Extra: ``recording_id``.
"""

from __future__ import annotations

from ace_neuro.params import Param

NAME = "nwb"

_TEXT = ("string", "null")

#: Parameter name -> (write_nwb group, field name).
FIELDS = {
    "subject_id": ("subject", "subject_id"),
    "species": ("subject", "species"),
    "sex": ("subject", "sex"),
    "age": ("subject", "age"),
    "date_of_birth": ("subject", "date_of_birth"),
    "genotype": ("subject", "genotype"),
    "strain": ("subject", "strain"),
    "weight": ("subject", "weight"),
    "subject_description": ("subject", "description"),
    "session_description": ("session", "session_description"),
    "session_start_time": ("session", "session_start_time"),
    "experimenter": ("session", "experimenter"),
    "lab": ("session", "lab"),
    "institution": ("session", "institution"),
    "experiment_description": ("session", "experiment_description"),
    "keywords": ("session", "keywords"),
    "indicator": ("imaging", "indicator"),
    "location": ("imaging", "location"),
    "excitation_lambda_nm": ("imaging", "excitation_lambda_nm"),
    "emission_lambda_nm": ("imaging", "emission_lambda_nm"),
}

PARAMETERS: tuple[Param, ...] = (
    Param(
        "write_nwb",
        True,
        "boolean",
        "Write the recording's NWB file; false skips the nwb step for it (a sheet column switches it per recording).",
        NAME,
    ),
    Param(
        "include_movie",
        False,
        "boolean",
        "Store the motion-corrected movie inside the NWB file (chunked, gzip) instead of linking the motion step's movie file.",
        NAME,
    ),
    Param(
        "nwb_movie_chunk_mb",
        8.0,
        "number",
        "HDF5 chunk of the movie inside the NWB file (MB); also the block of frames read at a time.",
        NAME,
        exclusive_minimum=0.0,
    ),
    Param("subject_id", None, _TEXT, "NWB subject id (default: the session metadata's animalName).", NAME),
    Param("species", None, _TEXT, "NWB subject species, Latin binomial (e.g. 'Mus musculus'); DANDI requires it.", NAME),
    Param("sex", None, _TEXT, "NWB subject sex: M, F, U (unknown, the default) or O.", NAME, enum=("M", "F", "U", "O", None)),
    Param("age", None, _TEXT, "NWB subject age, ISO 8601 duration (e.g. P90D); DANDI requires it or date_of_birth.", NAME),
    Param("date_of_birth", None, _TEXT, "NWB subject date of birth, ISO 8601 with time zone.", NAME),
    Param("genotype", None, _TEXT, "NWB subject genotype.", NAME),
    Param("strain", None, _TEXT, "NWB subject strain (e.g. C57BL/6J).", NAME),
    Param("weight", None, _TEXT, "NWB subject weight with unit (e.g. '25 g').", NAME),
    Param("subject_description", None, _TEXT, "NWB subject description.", NAME),
    Param("session_description", None, _TEXT, "NWB session description (default: what was recorded and done).", NAME),
    Param(
        "session_start_time",
        None,
        _TEXT,
        "Session start, ISO 8601 with time zone; default: the session metaData.json's recordingStartTime, else the "
        "Miniscope software's YYYY_MM_DD/HH_MM_SS folder names, else the sheet's 'date (YYMMDD)' (time of day unknown).",
        NAME,
    ),
    Param("experimenter", None, _TEXT, "NWB experimenter(s), 'Last, First', separated by ';'.", NAME),
    Param("lab", None, _TEXT, "NWB lab.", NAME),
    Param("institution", None, _TEXT, "NWB institution.", NAME),
    Param("experiment_description", None, _TEXT, "NWB experiment description (default: the metadata's experimentName).", NAME),
    Param("keywords", None, _TEXT, "NWB keywords, separated by ';'.", NAME),
    Param("indicator", None, _TEXT, "Calcium indicator (e.g. GCaMP6f) of the imaging plane.", NAME),
    Param("location", None, _TEXT, "Brain region imaged, an Allen CCF term where possible (e.g. CA1).", NAME),
    Param("excitation_lambda_nm", 470.0, "number", "Excitation wavelength (nm); 470 for a V4 Miniscope.", NAME, exclusive_minimum=0.0),
    Param("emission_lambda_nm", 525.0, "number", "Emission wavelength (nm) recorded (GCaMP: 525).", NAME, exclusive_minimum=0.0),
)


def metadata_groups(params) -> dict[str, dict]:
    """``{"subject": {...}, "session": {...}, "imaging": {...}}`` from the stage's parameters (unset ones left out)."""
    groups: dict[str, dict] = {"subject": {}, "session": {}, "imaging": {}}
    for name, (group, field) in FIELDS.items():
        value = params.get(name)
        if value is not None and value != "":
            groups[group][field] = value
    return groups


def run(inputs, outputs, params, *, threads: int = 1, log=None, recording_id: str, sheet_date=None) -> None:
    """Write ``outputs.nwb`` from the recording's results (``sheet_date``: the sheet's ``date (YYMMDD)``)."""
    from ace_neuro.io.memmap import find_linkable_movie
    from ace_neuro.io.nwb import write_nwb

    frames_ephys = inputs.get("frames_ephys") or None
    periods = inputs.get("periods") or None
    write_nwb(
        outputs.nwb,
        recording_id=recording_id,
        metadata_path=inputs.metadata,
        frames_path=inputs.frames,
        estimates_path=inputs.estimates,
        shifts_path=inputs.shifts,
        events_path=inputs.events,
        motion_movie_path=find_linkable_movie(inputs.movie),
        summary_images={"mean": inputs.mean, "max": inputs.max, "correlation": inputs.correlation, "pnr": inputs.pnr},
        frames_ephys_path=frames_ephys,
        low_confidence_path=periods,
        include_movie=bool(params["include_movie"]),
        movie_chunk_mb=float(params["nwb_movie_chunk_mb"]),
        sheet_date=sheet_date,
        **metadata_groups(params),
    )
