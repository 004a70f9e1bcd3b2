"""The base of every error landmark-tag expects and reports as one readable line."""


class LandmarkTagError(Exception):
    """An expected failure with a message meant for the user, not a bug."""


class CheckpointError(LandmarkTagError):
    """A model file that is missing, unreadable, not a checkpoint, or of an unsupported version."""


class ModelNotFoundError(CheckpointError):
    """There is no model file at the given (or default) path."""


class ConfigError(LandmarkTagError, ValueError):
    """A setting that cannot work: an unknown name, a value out of range, or an option that needs
    what is not there (a GPU, an interrupted run to resume). Named both as the Python argument and
    as the command-line option, so the message suits library and CLI users alike."""


def message_of(exc: Exception) -> str:
    """The error's own message, also when a DataLoader worker raised it: PyTorch then re-raises it
    with the worker's whole traceback as its message, whose last line is the original."""
    message = str(exc)
    if message.startswith("Caught ") and "\nOriginal Traceback" in message:
        last = message.rstrip().splitlines()[-1]
        return last.removeprefix(f"{type(exc).__module__}.{type(exc).__name__}: ")
    return message
