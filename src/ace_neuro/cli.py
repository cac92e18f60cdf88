"""The ``ace-neuro`` command.

Subcommands::

    ace-neuro simulate OUT [--n-frames N --height H --width W --n-neurons K --seed S ...]
    ace-neuro config [--schema]       print the documented default config.yaml (or its JSON schema)
    ace-neuro convert DIR OUT_DIR     convert one Miniscope folder (movie.tif, metadata.json, frames.csv)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from pathlib import Path

__all__ = ["main"]


def _add_simulate(subparsers) -> None:
    from ace_neuro.simulate import SimulationConfig

    parser = subparsers.add_parser("simulate", help="write a simulated V4 recording with ground truth")
    parser.add_argument("out", type=Path, help="output folder (the recording)")
    hints = typing.get_type_hints(SimulationConfig)
    for f in dataclasses.fields(SimulationConfig):
        kind = hints[f.name]
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata.get("help", "") + f" (default: {f.default})"
        if kind is bool:
            parser.add_argument(flag, type=_parse_bool, default=f.default, metavar="{true,false}", help=help_text)
        else:
            parser.add_argument(flag, type=kind, default=f.default, help=help_text)
    parser.set_defaults(func=_run_simulate)


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _run_simulate(args: argparse.Namespace) -> int:
    from ace_neuro.simulate import SimulationConfig, simulate_recording

    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(SimulationConfig)}
    out = simulate_recording(args.out, SimulationConfig(**values))
    print(f"simulated recording written to {out}")
    return 0


def _run_config(args: argparse.Namespace) -> int:
    from ace_neuro.params import config_schema, config_yaml

    if args.schema:
        print(json.dumps(config_schema(), indent=2))
    else:
        sys.stdout.write(config_yaml())
    return 0


def _run_convert(args: argparse.Namespace) -> int:
    from ace_neuro.io.convert import convert_recording

    out = Path(args.out_dir)
    convert_recording(args.directory, out / "movie.tif", out / "metadata.json", out / "frames.csv")
    print(f"converted {args.directory} into {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``ace-neuro``."""
    parser = argparse.ArgumentParser(prog="ace-neuro", description=__doc__.split("\n")[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_simulate(subparsers)
    config = subparsers.add_parser("config", help="print the default config.yaml, or its JSON schema")
    config.add_argument("--schema", action="store_true", help="print the JSON schema instead")
    config.set_defaults(func=_run_config)
    convert = subparsers.add_parser("convert", help="convert one Miniscope folder")
    convert.add_argument("directory", type=Path)
    convert.add_argument("out_dir", type=Path)
    convert.set_defaults(func=_run_convert)
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
