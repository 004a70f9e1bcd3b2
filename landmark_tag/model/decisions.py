"""What a model's answer decides for one photo: the rule the scan judges by (`pipeline.judge`) and
the int8 check holds int8 to (`runtime.int8_check`), written once.

`tagged` needs both a landmark score at or above `min_landmark_score` (the photo looks like one of
the model's landmarks) and a top-1 probability at or above `min_confidence` (the model can tell
which). A score below its threshold makes the photo `no_landmark`, whatever the probability; a
probability below its threshold makes it `uncertain`.
"""

from __future__ import annotations

from landmark_tag.files.results import Status


def decide(
    top1_probability: float,
    landmark_score: float | None,
    min_confidence: float,
    min_landmark_score: float | None,
) -> Status:
    """The status of a photo with these numbers at these thresholds (None: no landmark score)."""
    if min_landmark_score is not None and landmark_score is not None and landmark_score < min_landmark_score:
        return Status.NO_LANDMARK
    if top1_probability < min_confidence:
        return Status.UNCERTAIN
    return Status.TAGGED
