"""The `glassgen` command: human-readable tables by default, one JSON object on stdout with --json.

User mistakes (any GlassgenError, a missing file) become one line on stderr and exit status 2, never a traceback.
Commands live in modules by theme (`data`: configurations and labels; `learn`: predictors and benchmarks; `sample`: Monte Carlo); each registers itself through
``add_commands(command)``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import glassgen
from glassgen.cli import data, learn, sample
from glassgen.errors import GlassgenError

EXIT_USER_ERROR = 2
EXAMPLES = {**data.EXAMPLES, **learn.EXAMPLES, **sample.EXAMPLES}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="glassgen", description="Sampling and structure-to-dynamics prediction for Kob-Andersen glass formers.",
        epilog="Start with: glassgen demo",
    )
    parser.add_argument("--version", action="version", version=f"glassgen {glassgen.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, handler, help_text: str, *, takes_file: bool = False) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text,
                                  epilog=f"example: {EXAMPLES[name]}" if name in EXAMPLES else None)
        sub.set_defaults(handler=handler)
        sub.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
        if takes_file:
            sub.add_argument("file", type=Path, help="glassgen .h5 file, GlassBench/BOTAN .npz file, or a folder of them")
            sub.add_argument("--model", help="model name (ka3d, ka3d-sf, ka2d); default: inferred from the data")
        return sub

    data.add_commands(command)
    learn.add_commands(command)
    sample.add_commands(command)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv
    try:
        args.handler(args)
    except (GlassgenError, FileNotFoundError, PermissionError, IsADirectoryError) as error:
        print(f"glassgen {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"glassgen {args.command}: interrupted; results already written are kept.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
