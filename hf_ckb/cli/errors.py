"""The one kind of error a user of `hf-ckb` can cause: `main` prints it as one line and exits with status 2."""


class CLIError(Exception):
    """A mistake in the command line or in its inputs: `main` prints it as one line and exits with status 2."""
