"""``ConvertOptions`` (reading a raw Miniscope folder) and ``NwbOptions`` (the NWB file): the io steps' parameters.

Declared once, as the options classes' fields (see :mod:`ace_neuro.options`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ace_neuro.options import Options, option

__all__ = ["ConvertOptions", "NwbOptions", "NWB_FIELDS"]


@dataclass(frozen=True)
class ConvertOptions(Options):
    """How a raw Miniscope folder becomes one movie (:func:`ace_neuro.io.convert.convert_recording`)."""

    STAGE: ClassVar[str] = "convert"

    dropped_frame_gap: float = option(1.5, "number", "A time-stamp interval of at least this many frame periods marks dropped frames.", exclusive_minimum=1.0)
    convert_chunk_frames: int = option(256, "integer", "Frames decoded and written per chunk (memory: chunk x frame size).", minimum=1)
    filenames: str | tuple | int | None = option(None, ("string", "array", "integer", "null"), "Use only these .avi files: names ('3.avi') and/or 0-based natural-order indices or ranges ('0-4'), separated by ',' or ';' (the seed's filenames); null: all.")
    corrupted_frames: str = option("replace", "string", "Frames corrupted in transmission (check patterns, black-outs: a wireless Miniscope's lost packets): 'replace' writes each as the good frame before it (a held frame; listed in frames.csv's corrupted column and metadata.json), 'keep' writes them as decoded (still listed). More than half corrupted stops convert.", enum=("replace", "keep"))
    corrupted_tile_excess: float = option(4.0, "number", "An 8 x 8 px tile is garbage when its second-difference roughness exceeds the running reference's by this many times the reference's median tile (README, convert).", exclusive_minimum=0.0)
    corrupted_min_tiles: int = option(3, "integer", "A frame is corrupted when more than this many of its tiles are garbage or newly flat (and more than the recording's running level).", minimum=0)


#: NWB parameter name -> (:func:`ace_neuro.io.nwb.write_nwb` group, field name).
NWB_FIELDS = {
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


@dataclass(frozen=True)
class NwbOptions(Options):
    """The NWB file: the movie inside or linked, and the subject, session and imaging-plane fields.

    None of the fields is required for a valid file; with ``dandi`` the file is
    made for DANDI, which requires ``subject_id``, ``species``, ``sex`` and ``age``
    (or ``date_of_birth``), checked at start (``docs/nwb.md``).
    """

    STAGE: ClassVar[str] = "nwb"

    write_nwb: bool = option(True, "boolean", "Write the recording's NWB file; false skips the nwb step for it (a sheet column switches it per recording).")
    dandi: bool = option(False, "boolean", "Write a DANDI-ready file: the raw movie inside (uint8, chunked, gzip), no link to a file outside (the corrected movie inside with include_movie, else left out); subject_id, species, sex and age (or date_of_birth) are then required, checked at start.")
    include_movie: bool = option(False, "boolean", "Store the motion-corrected movie inside the NWB file (chunked, gzip) instead of linking the motion step's movie file.")
    nwb_movie_chunk_mb: float = option(8.0, "number", "HDF5 chunk of the movie inside the NWB file (MB); also the block of frames read at a time.", exclusive_minimum=0.0)
    subject_id: str | None = option(None, ("string", "null"), "NWB subject id (default: the sheet's subject column, else the session metadata's animalName, else the recording id).")
    species: str | None = option(None, ("string", "null"), "NWB subject species, Latin binomial (e.g. 'Mus musculus'); DANDI requires it.")
    sex: str | None = option(None, ("string", "null"), "NWB subject sex: M, F, U (unknown, the default) or O.", enum=("M", "F", "U", "O", None))
    age: str | None = option(None, ("string", "null"), "NWB subject age, ISO 8601 duration (e.g. P90D); DANDI requires it or date_of_birth.")
    date_of_birth: str | None = option(None, ("string", "null"), "NWB subject date of birth, ISO 8601 with time zone.")
    genotype: str | None = option(None, ("string", "null"), "NWB subject genotype.")
    strain: str | None = option(None, ("string", "null"), "NWB subject strain (e.g. C57BL/6J).")
    weight: str | None = option(None, ("string", "null"), "NWB subject weight with unit (e.g. '25 g').")
    subject_description: str | None = option(None, ("string", "null"), "NWB subject description.")
    session_description: str | None = option(None, ("string", "null"), "NWB session description (default: what was recorded and done).")
    session_start_time: str | None = option(None, ("string", "null"), "Session start, ISO 8601 with time zone; default: the session metaData.json's recordingStartTime, else the Miniscope software's YYYY_MM_DD/HH_MM_SS folder names, else the sheet's 'date (YYMMDD)' (time of day unknown).")
    experimenter: str | None = option(None, ("string", "null"), "NWB experimenter(s), 'Last, First', separated by ';'.")
    lab: str | None = option(None, ("string", "null"), "NWB lab.")
    institution: str | None = option(None, ("string", "null"), "NWB institution.")
    experiment_description: str | None = option(None, ("string", "null"), "NWB experiment description (default: the metadata's experimentName).")
    keywords: str | None = option(None, ("string", "null"), "NWB keywords, separated by ';'.")
    indicator: str | None = option(None, ("string", "null"), "Calcium indicator (e.g. GCaMP6f) of the imaging plane.")
    location: str | None = option(None, ("string", "null"), "Brain region imaged, an Allen CCF term where possible (e.g. CA1).")
    excitation_lambda_nm: float = option(470.0, "number", "Excitation wavelength (nm); 470 for a V4 Miniscope.", exclusive_minimum=0.0)
    emission_lambda_nm: float = option(525.0, "number", "Emission wavelength (nm) recorded (GCaMP: 525).", exclusive_minimum=0.0)

    def metadata_groups(self) -> dict[str, dict[str, Any]]:
        """``{"subject": {...}, "session": {...}, "imaging": {...}}`` for :func:`~ace_neuro.io.nwb.write_nwb` (unset fields left out)."""
        groups: dict[str, dict[str, Any]] = {"subject": {}, "session": {}, "imaging": {}}
        for name, (group, field) in NWB_FIELDS.items():
            value = getattr(self, name)
            if value is not None and value != "":
                groups[group][field] = value
        return groups
