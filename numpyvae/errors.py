"""The project's own error types.

Everything a user can get wrong (a bad file, a bad flag, a broken checkpoint) raises a subclass of
`NumpyvaeError` with a one-line message that names the culprit and says what to do; the command-line
entry points turn it into that line on stderr and a non-zero exit instead of a traceback.
"""


class NumpyvaeError(Exception):
    """Base class: a problem the user can fix, described in one line."""

    exit_code = 1


class UsageError(NumpyvaeError):
    """A flag or argument out of range (exit code 2, like argparse)."""

    exit_code = 2


class DataError(NumpyvaeError):
    """A dataset file that is missing, corrupt, truncated or fails its checksum."""


class CheckpointError(NumpyvaeError):
    """A checkpoint that is missing, truncated, foreign, or for another architecture."""


class NumericalError(NumpyvaeError):
    """A NaN or infinite loss or gradient during training."""


class OutputError(NumpyvaeError):
    """A folder or file the user named for output that cannot be created or written."""


class Interrupt(BaseException):
    """Ctrl-C (SIGINT) or SIGTERM, raised where the command was (numpyvae.cli.run_command turns it into one line).

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` swallows it.
    """

    def __init__(self, signal_name: str, signal_number: int) -> None:
        super().__init__(signal_name)
        self.signal_name, self.exit_code = signal_name, 128 + signal_number  # the shell's convention
        self.what_is_left = "no file was left half-written"  # a command that knows more says more
