"""One rule decides a photo's status, for the scan's judge and the int8 check alike."""

import pytest

from landmark_tag.files.results import Status
from landmark_tag.model.decisions import decide


@pytest.mark.parametrize(
    ("probability", "score", "status"),
    [
        (0.9, 0.8, Status.TAGGED),
        (0.5, 0.5, Status.TAGGED),  # at a threshold is enough
        (0.49, 0.8, Status.UNCERTAIN),
        (0.9, 0.49, Status.NO_LANDMARK),  # the score decides first, whatever the probability
        (0.1, 0.1, Status.NO_LANDMARK),
        (0.9, None, Status.TAGGED),  # a photo without a score is judged by its probability
    ],
)
def test_the_score_then_the_probability_decide(probability, score, status):
    assert decide(probability, score, min_confidence=0.5, min_landmark_score=0.5) == status


def test_a_model_without_a_landmark_score_decides_by_probability_alone():
    assert decide(0.9, 0.0, min_confidence=0.5, min_landmark_score=None) == Status.TAGGED
