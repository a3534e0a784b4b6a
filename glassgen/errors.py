"""Error and warning types that glassgen raises for user mistakes.

Every message says what was wrong, what was expected and how to fix it; the CLI prints it as one line.
"""

from samplers.target import SamplerInputError


class GlassgenError(Exception):
    """Base class of every error glassgen raises on purpose."""


class InvalidInputError(GlassgenError, ValueError):
    """An argument or an input array is wrong (shape, dtype, value, non-finite numbers, overlaps)."""


class DataFormatError(InvalidInputError):
    """A file is not in a format glassgen reads (missing keys, wrong shapes, unknown layout)."""


class SchemaVersionError(DataFormatError):
    """A native HDF5 file was written with a schema version this glassgen cannot read."""


#: What the CLI reports as a user mistake (one line, exit status 2). The `samplers` package imports nothing from
#: glassgen, so its own base error joins here rather than by inheritance.
USER_ERRORS = (GlassgenError, SamplerInputError)


class ConvergenceWarning(UserWarning):
    """An iterative method stopped before reaching its tolerance."""
