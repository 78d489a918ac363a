"""Exception types raised by the library. Only the CLI turns them into exit codes."""

from __future__ import annotations


class SugarError(Exception):
    """Base class: a problem the user can fix (bad input, missing file, wrong option)."""


class InputFormatError(SugarError):
    """A raw input file does not have the expected format.

    The message always names the file, and the line where one applies.
    """

    def __init__(self, path, message: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class SchemaError(SugarError):
    """An HDF5 file does not follow the sugar file contract."""


class ConfigError(SugarError):
    """An option or configuration value is invalid."""


class BackendError(SugarError):
    """A model backend (LLM server, local model, cache) failed in a way the user can act on."""


class DivergedError(SugarError):
    """Training stopped because the loss became NaN or infinite (the message names the step)."""


class OutputError(SugarError):
    """An output cannot be written: it is one of the inputs, its folder is missing, read-only or
    a file, the name is too long, or the disk filled up. The message names the path."""
