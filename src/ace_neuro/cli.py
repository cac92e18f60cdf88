"""The ``ace-neuro`` command.

Subcommands::

    ace-neuro --version
    ace-neuro simulate OUT [--n-frames N --height H --width W --n-neurons K --seed S ...]
    ace-neuro config [--schema|--readme]  print the documented default config.yaml (or its schema, or README)
    ace-neuro convert DIR OUT_DIR     convert one Miniscope folder (movie.tif, metadata.json, frames.csv)
    ace-neuro sheet FOLDER > experiments.csv   the sample sheet of every Miniscope session under FOLDER
    ace-neuro curate results/ID       accept / reject components (and draw a crop box) in the browser
    ace-neuro verify RESULTS/ID ...   check results against their raw files (exit 1 if any changed)
    ace-neuro track FILE... --out DIR  track cells across sessions (ours, CaImAn's or CellReg's footprints)

``ace-neuro SUBCOMMAND --help`` describes each one.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from pathlib import Path

__all__ = ["main"]


def _add_simulate(subparsers) -> None:
    from ace_neuro.simulate import SimulationConfig

    parser = subparsers.add_parser(
        "simulate",
        help="write a simulated Miniscope V4 recording with its ground truth",
        description="Write a simulated UCLA Miniscope V4 recording (FFV1 .avi files, both metaData.json, "
        "timeStamps.csv, an optional ephys_ttl.csv) and ground_truth.h5 (footprints, calcium, spikes, motion, "
        "background): neurons with known footprints and spikes, a fluctuating one-photon background, "
        "photobleaching, noise, motion and dropped frames. The model and the motion sign convention are in "
        "docs/simulator.md.",
        epilog="example: ace-neuro simulate resources/demo_recording --n-frames 2000 --height 256 --width 256 "
        "--n-neurons 40 --seed 1",
    )
    parser.add_argument("out", type=Path, help="output folder of the recording (created; its files are replaced)")
    _add_dataclass_flags(parser, SimulationConfig)
    _add_subject_options(parser)
    parser.set_defaults(func=_run_simulate)


def _add_dataclass_flags(parser, options_class) -> None:
    """One ``--flag`` per field of a dataclass, typed by its annotation (``X | None`` as X), its help from the
    field's ``metadata["help"]`` (an options class's fields: their declaration's help)."""
    hints = typing.get_type_hints(options_class)
    for f in dataclasses.fields(options_class):
        kind = hints[f.name]
        kind = next((k for k in typing.get_args(kind) if k is not type(None)), kind)
        flag, help_text = _flag(f), _flag_help(f)
        if kind is bool:
            parser.add_argument(flag, type=_parse_bool, default=f.default, metavar="{true,false}", help=help_text)
        else:
            parser.add_argument(flag, type=kind, default=f.default, help=help_text)


def _flag(field: dataclasses.Field) -> str:
    """The command-line flag of a dataclass field: ``n_frames`` -> ``--n-frames``."""
    return "--" + field.name.replace("_", "-")


def _flag_help(field: dataclasses.Field) -> str:
    """A field's help (``metadata["help"]``, or its option declaration's) and its default, for argparse."""
    declared = field.metadata.get("ace_neuro.option") or {}
    help_text = (field.metadata.get("help") or declared.get("help", "")) + f" (default: {field.default})"
    return help_text.replace("%", "%%")  # argparse formats help strings with %: a literal one must be doubled


def _flag_values(args: argparse.Namespace, options_class, leave_out: tuple[str, ...] = ()) -> dict:
    """``{field: value}`` of the flags :func:`_add_dataclass_flags` added for ``options_class``."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(options_class) if f.name not in leave_out}


def _add_subject_options(parser) -> None:
    """``--sessions N`` and the subject's options (:class:`ace_neuro.simulate.sessions.SubjectConfig`)."""
    from ace_neuro.simulate.sessions import SubjectConfig

    group = parser.add_argument_group(
        "several sessions of one subject (--sessions > 1)",
        "OUT becomes a subject folder: session1/, session2/, ... (V4 folders, the same tissue seen with a shifted, "
        "rotated and warped field of view) and subject_truth.h5 (every cell's identity in every session)")
    group.add_argument("--sessions", type=int, default=1, help="number of sessions of one subject (default: 1)")
    for f in dataclasses.fields(SubjectConfig):
        if f.name != "n_sessions":
            group.add_argument(_flag(f), type=float, default=f.default, help=_flag_help(f))


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _run_simulate(args: argparse.Namespace) -> int:
    from ace_neuro.simulate import SimulationConfig, simulate_recording

    values = _flag_values(args, SimulationConfig)
    if args.sessions > 1:
        from ace_neuro.simulate.sessions import SubjectConfig, simulate_subject

        subject = _flag_values(args, SubjectConfig, leave_out=("n_sessions",))
        out = simulate_subject(args.out, SimulationConfig(**values), SubjectConfig(n_sessions=args.sessions, **subject))
        print(f"simulated subject ({args.sessions} sessions) written to {out}")
        return 0
    out = simulate_recording(args.out, SimulationConfig(**values))
    print(f"simulated recording written to {out}")
    return 0


def _run_config(args: argparse.Namespace) -> int:
    from ace_neuro.params import config_schema, config_yaml

    if args.readme:
        from ace_neuro.configdoc import config_readme

        sys.stdout.write(config_readme())
    elif args.schema:
        import json

        # JSON text (also YAML): Snakemake's validate reads it as JSON first, ~0.07 CPU s faster than YAML through
        # yte at every run's start; the schema's description says it is generated
        sys.stdout.write(json.dumps(config_schema(), indent=1, allow_nan=False) + "\n")
    else:
        sys.stdout.write(config_yaml())
    return 0


def _run_convert(args: argparse.Namespace) -> int:
    from ace_neuro.io.convert import convert_recording

    out = Path(args.out_dir)
    convert_recording(args.directory, out / "movie.tif", out / "metadata.json", out / "frames.csv")
    print(f"converted {args.directory} into {out}")
    return 0


def _add_curate(subparsers) -> None:
    parser = subparsers.add_parser(
        "curate",
        help="accept / reject components in the browser; writes the curation file",
        description="Serve a local page (127.0.0.1 only, a free port, printed) showing every component of one "
        "recording over its correlation and mean images, with its footprint, traces, SNR and r-value. Accept or "
        "reject by click or key; saving writes the curation file the evaluate step reads, so the next snakemake "
        "run re-runs evaluate and what follows. The page also draws a crop box and gives its crop_coords.",
    )
    parser.add_argument("results", type=Path, help="the recording's results folder, results/ID, after evaluate")
    parser.add_argument("--curation-file", type=Path, default=None,
                        help="file to write, .csv or .yaml (default: RESULTS/curation/decisions.yaml, which the next "
                        "snakemake run reads without a sheet edit; another file must be named in the sample "
                        "sheet's 'curation file' column)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--browser", action="store_true", help="also open the page in the default web browser")
    parser.set_defaults(func=_run_curate)


def _run_curate(args: argparse.Namespace) -> int:
    from ace_neuro.curate import serve

    serve(args.results, curation_file=args.curation_file, port=args.port, open_browser=args.browser,
          out=lambda message: print(message, flush=True))
    return 0


def _add_sheet(subparsers) -> None:
    parser = subparsers.add_parser(
        "sheet",
        help="write the sample sheet of every Miniscope session under a folder",
        description="Find every UCLA Miniscope V4 / V3 session under FOLDER (the Miniscope software's "
        "<animal>/YYYY_MM_DD/HH_MM_SS/ layout or any other nesting), open each as the workflow would, and print the "
        "sample sheet (CSV): id, calcium imaging directory, subject (the folder above the date folders, else the "
        "metadata's animalName) and session_start_time. Folders that look like a session but cannot be read are "
        "listed on stderr with the reason. Exit status 0 when a session was found, 1 when none was.",
        epilog="example: ace-neuro sheet /data/mouse1 > config/experiments.csv",
    )
    parser.add_argument("folder", type=Path, help="the folder to search (an animal's, or one of several animals)")
    parser.set_defaults(func=_run_sheet)


def _run_sheet(args: argparse.Namespace) -> int:
    from ace_neuro.io.sessions import find_sessions, sheet_table

    sessions, flagged = find_sessions(args.folder)
    for item in flagged:
        print(f"ace-neuro sheet: not a readable session: {item.directory}: {item.reason}", file=sys.stderr)
    if not sessions:
        print(f"ace-neuro sheet: error: no readable Miniscope session under {args.folder}", file=sys.stderr)
        return 1
    sheet_table(sessions, args.folder).to_csv(sys.stdout, index=False, lineterminator="\n")
    versions = {v: sum(s.version == v for s in sessions) for v in ("V4", "V3")}
    print(f"ace-neuro sheet: {len(sessions)} sessions ({versions['V4']} V4, {versions['V3']} V3) under {args.folder}"
          f"{f'; {len(flagged)} folders flagged' if flagged else ''}", file=sys.stderr)
    return 0


def _run_verify(args: argparse.Namespace) -> int:
    from ace_neuro.verify import format_report, verify_results

    reports = [verify_results(folder, checksums=not args.sizes_only) for folder in args.results]
    for report in reports:
        print(format_report(report))
    return 0 if all(report.ok for report in reports) else 1


def _add_track(subparsers) -> None:
    from ace_neuro.tracking import TrackingOptions

    parser = subparsers.add_parser(
        "track",
        help="track the same cells across sessions from their footprint files",
        description="Register the cells of several sessions of one field of view: align the sessions to a common "
        "space (rotation, translation, smooth non-rigid field; no reference session), fit the probability that "
        "two cells are the same neuron to the sessions' own pairs, and group the cells (each at most once per "
        "session). Reads ours (results/ID/evaluate/estimates.h5), CaImAn's cnm.save() .hdf5 and CellReg's "
        "spatial_footprints_*.mat. Writes registration.h5, tracked_cells.csv, quality.json and figures "
        "(docs/tracking.md).",
        epilog="example: ace-neuro track day1/evaluate/estimates.h5 day2/evaluate/estimates.h5 --out tracking/m1",
    )
    parser.add_argument("files", type=Path, nargs="+", help="one footprint file per session")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created)")
    parser.add_argument("--names", nargs="+", default=None, help="session names (default: from the file names)")
    _add_dataclass_flags(parser, TrackingOptions)
    parser.set_defaults(func=_run_track)


def _run_track(args: argparse.Namespace) -> int:
    from ace_neuro.tracking import TrackingOptions, read_footprints, register_sessions
    from ace_neuro.tracking.report import write_registration

    if args.names is not None and len(args.names) != len(args.files):
        raise ValueError(f"{len(args.names)} --names for {len(args.files)} files")
    names = args.names or [None] * len(args.files)
    sessions = [read_footprints(path, name=name) for path, name in zip(args.files, names)]
    options = TrackingOptions(**_flag_values(args, TrackingOptions))
    registration, alignment = register_sessions(sessions, options, return_alignment=True)
    write_registration(registration, alignment, args.out, title=args.out.name)
    q = registration.quality
    print(f"{registration.n_tracked} tracked cells from {q['n_cells']} cells of {len(sessions)} sessions; estimated "
          f"false positives {q['false_positive']:.3f}, false negatives {q['false_negative']:.3f}, uncertain pairs "
          f"{q['uncertain_fraction']:.3f}, mean register score {q['mean_register_score']:.3f}; written to {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``ace-neuro``."""
    from ace_neuro import __version__

    parser = argparse.ArgumentParser(
        prog="ace-neuro",
        description="ace-neuro: one-photon (UCLA Miniscope V4/V3) calcium imaging from raw .avi folders to "
        "neurons, traces, events, spectra and ephys-aligned frame times. The whole pipeline runs as a Snakemake "
        "workflow (snakemake --cores all, with config/config.yaml and the sample sheet config/experiments.csv); "
        "this command holds the helpers around it.",
        epilog="Run 'ace-neuro SUBCOMMAND --help' for a subcommand's options. Documentation: README.md and docs/.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    _add_simulate(subparsers)
    config = subparsers.add_parser(
        "config",
        help="print the default config.yaml, or its JSON schema",
        description="Print config/config.yaml as generated from the parameter registry: every parameter with "
        "its default and a one-line comment, CaImAn's names. With --schema, print the JSON schema the workflow "
        "validates the config against (workflow/schemas/config.schema.yaml); with --readme, config/README.md.",
        epilog="example: ace-neuro config > config/config.yaml",
    )
    config.add_argument("--schema", action="store_true", help="print the JSON schema (JSON text, also YAML) instead of the config")
    config.add_argument(
        "--readme", action="store_true", help="print config/README.md (every key and sample-sheet column, generated)"
    )
    config.set_defaults(func=_run_config)
    convert = subparsers.add_parser(
        "convert",
        help="convert one Miniscope folder to movie.tif, metadata.json and frames.csv",
        description="Convert one UCLA Miniscope recording (what the workflow's convert rule does): decode its "
        ".avi files in natural order into one uncompressed ImageJ TIFF (T, H, W) that Fiji opens and the "
        "pipeline memory-maps, merge the session and device metadata (metadata.json, with the dropped-frame "
        "report) and write one row per frame with its time and source file (frames.csv).",
        epilog="example: ace-neuro convert /data/mouse1/2024_03_05/09_07_01 results/mouse1_day1/convert",
    )
    convert.add_argument(
        "directory",
        type=Path,
        help="the recording: a V4 session folder (with metaData.json and Miniscope/), its Miniscope/ folder, "
        "or a V3 folder (msCam1.avi, timestamp.dat)",
    )
    convert.add_argument("out_dir", type=Path, help="output folder for movie.tif, metadata.json and frames.csv")
    convert.set_defaults(func=_run_convert)
    _add_sheet(subparsers)
    _add_curate(subparsers)
    verify = subparsers.add_parser(
        "verify",
        help="check results folders against their raw files (provenance.json)",
        description="Compare the raw files recorded in results/ID/provenance.json (size and SHA-256 of every file "
        "the convert step read) with the recording folder now: list the files changed, removed or added. Exit "
        "status 0 when all match, 1 when any differ (the results no longer match the raw data: re-run the "
        "workflow), 2 when there is no provenance record.",
        epilog="example: ace-neuro verify results/mouse1_day1 results/mouse1_day2",
    )
    verify.add_argument("results", type=Path, nargs="+", help="results/<id> folder(s) or provenance.json file(s)")
    verify.add_argument("--sizes-only", action="store_true", help="compare sizes only, not SHA-256 (fast)")
    verify.set_defaults(func=_run_verify)
    _add_track(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code. User errors print one line, not a traceback."""
    from ace_neuro.logs import configure_logging

    configure_logging()
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as err:
        print(f"ace-neuro {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
