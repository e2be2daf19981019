"""User-facing errors.

Every error a user can cause (bad file, bad checkpoint, bad mask spec) is a ``MaskvizError`` whose
message is a plain sentence; the CLI prints it on one line and the GUI shows it in a dialog.
A ``SetupError`` is the machine's, not the input's (the CLI exits 3 for it, 2 for input errors).
Anything else escaping the core is a bug, unless :func:`maskviz.doctor.setup_problem` recognises a
broken install in it.
"""

EXIT_SETUP = 3  # the exit status for a SetupError, from the CLI and the app alike


class MaskvizError(Exception):
    """An error caused by input, explained in plain words."""


class CheckpointError(MaskvizError):
    """A checkpoint that cannot be loaded exactly."""


class ImageError(MaskvizError):
    """An image that cannot be read or converted."""


class MaskError(MaskvizError):
    """A mask spec or mask file that cannot be used."""


class SetupError(MaskvizError):
    """This machine lacks something maskviz needs (a package that works, a system library, a display).

    The message is one line that names the fix; ``maskviz doctor`` prints the same line.
    """
