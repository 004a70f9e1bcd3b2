"""The base of every error landmark-tag expects and reports as one readable line."""


class LandmarkTagError(Exception):
    """An expected failure with a message meant for the user, not a bug."""


class CheckpointError(LandmarkTagError):
    """A model file that is missing, unreadable, not a checkpoint, or of an unsupported version."""


class ModelNotFoundError(CheckpointError):
    """There is no model file at the given (or default) path."""
