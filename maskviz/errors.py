"""User-facing errors.

Every error a user can cause (bad file, bad checkpoint, bad mask spec) is a ``MaskvizError`` whose
message is a plain sentence; the CLI prints it on one line and the GUI shows it in a dialog.
Anything else escaping the core is a bug.
"""


class MaskvizError(Exception):
    """An error caused by input, explained in plain words."""


class CheckpointError(MaskvizError):
    """A checkpoint that cannot be loaded exactly."""


class ImageError(MaskvizError):
    """An image that cannot be read or converted."""


class MaskError(MaskvizError):
    """A mask spec or mask file that cannot be used."""
