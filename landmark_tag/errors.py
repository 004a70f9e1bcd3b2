"""The base of every error landmark-tag expects and reports as one readable line."""


class LandmarkTagError(Exception):
    """An expected failure with a message meant for the user, not a bug."""
