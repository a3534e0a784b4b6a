"""The `glassgen` command: human-readable tables by default, one JSON object on stdout with --json.

Every command follows one pattern, set here so that new commands inherit it:

- a user mistake (a GlassgenError, a sampler's SamplerInputError, an argument argparse cannot parse, a file that
  cannot be read or written) becomes one line on stderr and exit status 2, never a traceback;
- arguments are checked by their types and declared outputs are checked for writability (``_arguments``) before the
  command does any work, so a mistake never costs a computation;
- torch and BLAS run on ``--threads`` threads (default 1, see ``glassgen.threads``);
- progress goes to stderr (silenced by ``--quiet``), warnings too, as one line each; results go to stdout.

Commands live in modules by theme (`data`: configurations and labels; `learn`: predictors and benchmarks; `sample`:
Monte Carlo; `flow`: normalizing flows; `demo`: the joined job in small); each registers itself through ``add_commands(command)``.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import glassgen
from glassgen.cli import data, dataset, demo, flow, learn, sample
from glassgen.cli._arguments import OneLineParser, add_temperatures, check_outputs, positive_int
from glassgen.errors import USER_ERRORS

EXIT_USER_ERROR = 2
EXAMPLES = {**data.EXAMPLES, **dataset.EXAMPLES, **demo.EXAMPLES, **learn.EXAMPLES, **sample.EXAMPLES, **flow.EXAMPLES}


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="glassgen", description="Sampling and structure-to-dynamics prediction for Kob-Andersen glass formers.",
        epilog="Start with: glassgen demo",
    )
    parser.add_argument("--version", action="version", version=f"glassgen {glassgen.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, handler, help_text: str, *, takes_file: bool = False) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text,
                                  formatter_class=argparse.RawDescriptionHelpFormatter,
                                  epilog=f"example:\n  {EXAMPLES[name]}" if name in EXAMPLES else None)
        sub.set_defaults(handler=handler)
        sub.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
        sub.add_argument("--quiet", action="store_true", help="no progress on stderr (errors and warnings remain)")
        sub.add_argument("--threads", type=positive_int, default=1,
                         help="CPU threads for torch and BLAS (default 1: fastest for glassgen's small operations "
                              "and safe on a shared machine; see benchmarks/threads.py)")
        if takes_file:
            sub.add_argument("file", type=Path, help="glassgen .h5 file, GlassBench/BOTAN .npz file, a folder of them, or "
                                                     "a shipped dataset (ka3d-multiT, ka2d-multiT)")
            sub.add_argument("--model", help="model name (ka3d, ka3d-sf, ka2d); default: inferred from the data")
            add_temperatures(sub)
        return sub

    data.add_commands(command)
    dataset.add_commands(command)
    demo.add_commands(command)
    learn.add_commands(command)
    sample.add_commands(command)
    flow.add_commands(command)
    return parser


def main(argv: list[str] | None = None) -> int:
    from glassgen.threads import limited_threads

    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    prefix = "glassgen"
    try:
        args = parser.parse_args(argv)
        args.argv, prefix = argv, f"glassgen {args.command}"
        check_outputs(args)
        with limited_threads(args.threads), warnings.catch_warnings():
            warnings.showwarning = lambda message, *_, **__: print(f"{prefix}: warning: {message}", file=sys.stderr)
            args.handler(args)
    except USER_ERRORS as error:
        print(f"{getattr(error, 'prog', prefix)}: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:  # the reader of stdout went away (`glassgen info X | head -3`): not a mistake
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as error:
        print(f"{prefix}: error: {_describe(error)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted; results already written are kept.", file=sys.stderr)
        return 130
    return 0


def _describe(error: OSError) -> str:
    """'cannot write /x/y.h5: Read-only file system' rather than Python's '[Errno 30] ...' form."""
    where = f" {error.filename}" if error.filename else ""
    return f"{error.strerror or error}{':' if where else ''}{where}; check the path and its permissions."


if __name__ == "__main__":
    sys.exit(main())
