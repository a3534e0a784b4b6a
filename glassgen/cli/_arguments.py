"""How the `glassgen` commands take their arguments: checked types, declared outputs, one-line usage errors.

Every mistake in the arguments is caught before any work starts: numbers are checked by their argparse type
(``positive_int``, ``probability``, ...), and every output a command writes is declared with :func:`add_output`, so
that :func:`check_outputs` can test that its folder exists and is writable before the command computes anything.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

from glassgen.errors import InvalidInputError


class UsageError(InvalidInputError):
    """A command line that argparse cannot parse (unknown option, missing or malformed value); ``prog`` names the
    command it was meant for."""

    def __init__(self, message: str, prog: str):
        super().__init__(message)
        self.prog = prog


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are raised, so that the CLI prints them as one line like every error."""

    def error(self, message: str):
        raise UsageError(f"{message} (see {self.prog} --help)", self.prog)


# -- checked number types: argparse calls them on the text and turns ArgumentTypeError into a usage error ---------


def _number(cast, text: str):
    try:
        value = cast(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'an integer' if cast is int else 'a number'}; got {text!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number; got {text!r}")
    return value


def _bounded(cast, what: str, ok):
    def parse(text: str):
        value = _number(cast, text)
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {what}; got {text}")
        return value

    parse.__name__ = what  # argparse names the type in some messages
    return parse


positive_int = _bounded(int, "an integer >= 1", lambda v: v >= 1)
nonnegative_int = _bounded(int, "an integer >= 0", lambda v: v >= 0)
positive_float = _bounded(float, "a number > 0", lambda v: v > 0)
probability = _bounded(float, "a probability in [0, 1]", lambda v: 0 <= v <= 1)


# -- outputs: declared on the parser, checked before the command runs ----------------------------------------------


def add_output(sub: argparse.ArgumentParser, *, kind: str, help: str, required: bool = True,
               default: Path | None = None, flags: tuple[str, ...] = ("-o", "--output"), dest: str = "output") -> None:
    """Add an output argument of ``kind`` "file" or "folder" and declare it for :func:`check_outputs`."""
    if kind not in ("file", "folder"):
        raise ValueError(f"kind must be 'file' or 'folder'; got {kind!r}")
    sub.add_argument(*flags, dest=dest, type=Path, required=required, default=default, help=help)
    sub.set_defaults(outputs=[*(sub.get_default("outputs") or []), (dest, kind)])


def check_outputs(args: argparse.Namespace) -> None:
    """Raise InvalidInputError when a declared output cannot be written, before any work is done."""
    for dest, kind in getattr(args, "outputs", None) or []:
        path = getattr(args, dest)
        if path is not None:
            (check_output_file if kind == "file" else check_output_folder)(Path(path), option=_option(dest))


def _option(dest: str) -> str:
    return "-o/--output" if dest == "output" else f"--{dest.replace('_', '-')}"


def check_output_file(path: Path, *, option: str = "-o/--output") -> None:
    """A file can be written at ``path``: it is not a folder, and its folder exists and takes new files."""
    if path.is_dir():
        raise InvalidInputError(f"{option} {path} is a folder; give a file name inside it, e.g. {path / 'out.h5'}.")
    folder = path.parent
    if not folder.exists():
        raise InvalidInputError(f"{option} {path}: the folder {folder} does not exist; create it (mkdir -p {folder}) "
                                "or write elsewhere.")
    if not folder.is_dir():
        raise InvalidInputError(f"{option} {path}: {folder} is a file, not a folder.")
    _check_writable(folder, option, path)


def check_output_folder(path: Path, *, option: str = "-o/--output") -> None:
    """A folder can be used or made at ``path``: it is a folder (or absent), and its nearest existing ancestor takes
    new files."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InvalidInputError(f"{option} {path}: {existing} is a file, not a folder; choose another folder name.")
    _check_writable(existing, option, path)


def _check_writable(folder: Path, option: str, path: Path) -> None:
    """Create and delete a temporary file: the only test that is true for read-only mounts, ACLs and root alike."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".glassgen-write-test-"):
            pass
    except OSError as error:
        reason = error.strerror or str(error)
        raise InvalidInputError(f"{option} {path}: cannot write in {folder} ({reason}); choose a writable "
                                "location.") from None


def add_temperatures(sub: argparse.ArgumentParser) -> None:
    """``--temperatures T1 T2 ...``: keep only the configurations at these temperatures (data that mix them)."""
    sub.add_argument("--temperatures", type=positive_float, nargs="+", metavar="T",
                     help="use only the configurations at these temperatures (e.g. of ka3d-multiT)")
