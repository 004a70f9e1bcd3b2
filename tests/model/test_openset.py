import pytest
import torch

from landmark_tag.model.architectures import last_linear_name
from landmark_tag.model.checkpoint import load_model, save_checkpoint
from landmark_tag.model.openset import (
    LandmarkScorer,
    build_bank,
    capture_features,
    choose_threshold,
    false_tag_threshold,
    landmark_like_negatives,
    leave_class_out,
    recall_threshold,
)
from landmark_tag.training.features import HeadSwap
from tests.helpers import tiny_spec


def test_score_is_the_cosine_similarity_to_the_kth_nearest_bank_row():
    bank = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    features = torch.tensor([[3.0, 4.0], [0.0, -2.0]])  # cosines with the rows: (.6, .8, -.6), (0, -1, 0)
    nearest = LandmarkScorer(bank, neighbour=1).score(features)
    assert nearest.tolist() == pytest.approx([0.8, 0.0])
    second = LandmarkScorer(bank, neighbour=2).score(features)
    assert second.tolist() == pytest.approx([0.6, 0.0])
    # k beyond the bank is the last row; a fp16 bank scores the same within its precision.
    assert LandmarkScorer(bank, neighbour=9).score(features).tolist() == pytest.approx([-0.6, -1.0])
    assert LandmarkScorer(bank.half()).score(features).tolist() == pytest.approx([0.8, 0.0], abs=1e-3)
    # Searching a bf16 copy of the bank (for models that run in bf16) finds the same neighbours, and
    # the scores keep fp32's precision.
    for dtype in (torch.float32, torch.bfloat16):
        on_device = LandmarkScorer(bank, neighbour=2).on("cpu", dtype)
        assert on_device.search.dtype == dtype
        assert on_device.score(features).tolist() == pytest.approx([0.6, 0.0], abs=1e-6)


def test_a_photo_that_is_in_the_fp16_bank_scores_at_most_one():
    # fp16 rounding leaves the bank's rows unit vectors only to about 1e-4: unclamped, some of these
    # photos scored above 1, and a threshold fitted on them could not be used by any scan.
    torch.manual_seed(0)
    features = torch.randn(200, 64)
    bank = build_bank(features, torch.zeros(200, dtype=torch.long))
    unclamped = (torch.nn.functional.normalize(features, dim=1) * bank.float()).sum(dim=1)
    assert (unclamped > 1).any()  # the case this guards against occurs with these features
    scores = LandmarkScorer(bank).score(features)
    assert scores.max() == 1.0 and (scores >= -1).all()
    threshold, _ = choose_threshold(scores, negative_scores=scores, false_tag_rate=0.0)
    assert threshold <= 1.0  # a usable threshold, whatever the negatives scored


def test_bank_keeps_every_photo_normalised_while_it_fits():
    features = torch.randn(30, 8) * 5
    bank = build_bank(features, torch.arange(30) % 3)
    assert bank.dtype == torch.float16 and bank.shape == (30, 8)
    assert torch.allclose(bank.float().norm(dim=1), torch.ones(30), atol=1e-3)


def test_a_large_bank_becomes_class_prototypes_within_its_byte_budget():
    torch.manual_seed(0)
    centres = torch.eye(4, 16) * 10
    targets = torch.arange(400) % 4
    features = centres[targets] + torch.randn(400, 16)
    bank = build_bank(features, targets, max_bytes=40 * 2 * 16)  # room for 40 rows
    assert bank.shape == (40, 16) and bank.numel() * 2 <= 40 * 2 * 16
    # Every class keeps prototypes, near its own centre.
    nearest_centre = (bank.float() @ centres.T).argmax(dim=1)
    assert sorted(nearest_centre.bincount().tolist()) == [10, 10, 10, 10]


def test_recall_threshold_keeps_the_asked_share():
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0])
    assert recall_threshold(scores, 0.8) == pytest.approx(0.2)  # keeps 8 of 10
    assert recall_threshold(scores, 0.75) == pytest.approx(0.2)  # 7.5 rounds up to 8
    assert recall_threshold(scores, 1.0) == pytest.approx(0.0)
    with pytest.raises(ValueError):
        recall_threshold(scores, 0.0)


def test_false_tag_threshold_lets_through_at_most_the_asked_share():
    negatives = torch.tensor([0.5, 0.4, 0.3, 0.2, 0.1, 0.0, -0.1, -0.2, -0.3, -0.4])
    threshold = false_tag_threshold(negatives, 0.1)  # one of ten may pass: 0.5 does, 0.4 must not
    assert 0.4 < threshold <= 0.5
    assert false_tag_threshold(negatives, 0.0) > 0.5
    assert (negatives >= false_tag_threshold(negatives, 0.25)).sum() == 2


def test_negatives_raise_the_threshold_but_never_lower_it():
    landmarks = torch.linspace(0.5, 1.0, 20)
    recall_only, fit = choose_threshold(landmarks, recall=0.95)
    assert fit["landmark_recall"] >= 0.95 and "negative_photos" not in fit
    hard = torch.tensor([0.62, 0.6, 0.1])  # two negatives look like the least typical landmarks
    raised, fit = choose_threshold(landmarks, hard, recall=0.95, false_tag_rate=0.0)
    assert raised > 0.62 and fit["false_tag_rate"] == 0.0 and fit["landmark_recall"] < 0.95
    easy = torch.tensor([0.0, -0.2])
    kept, fit = choose_threshold(landmarks, easy, recall=0.95, false_tag_rate=0.0)
    assert kept == recall_only and fit["negative_photos"] == 2


def test_negatives_that_score_like_most_landmark_photos_are_taken_for_them():
    # A user's library, given as negatives, holds some photos of the landmarks themselves: counted
    # as false tags, 5 of them would raise the threshold over most landmark photos.
    landmarks = torch.linspace(0.5, 1.0, 20)
    negatives = torch.cat([torch.linspace(-0.2, 0.55, 100), torch.tensor([0.95, 0.9, 0.85, 0.8, 0.7])])
    clean, _ = choose_threshold(landmarks, negatives[:100], recall=0.95, false_tag_rate=0.01)
    threshold, fit = choose_threshold(landmarks, negatives, recall=0.95, false_tag_rate=0.01)
    assert threshold == clean and fit["landmark_like"] == [100, 101, 102, 103, 104]
    assert fit["negative_photos"] == 100 and fit["landmark_recall"] >= 0.9
    like = landmark_like_negatives(landmarks, negatives)
    assert like.sum() == 5  # at or above the score that 75% of the landmark photos reach
    assert landmark_like_negatives(landmarks, torch.tensor([landmarks.sort().values[5].item()])).all()
    assert not landmark_like_negatives(landmarks, torch.tensor([landmarks.sort().values[4].item()])).any()


def test_leave_one_out_scores_each_bank_photo_against_the_others():
    rows = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.0, 1.0]])
    scorer = LandmarkScorer(build_bank(rows, torch.tensor([0, 0, 1, 1])))
    assert scorer.score(rows).tolist() == pytest.approx([1.0, 1.0, 1.0, 1.0], abs=1e-3)  # themselves
    assert scorer.leave_one_out().tolist() == pytest.approx([0.8, 0.8, 1.0, 1.0], abs=1e-3)
    second = LandmarkScorer(scorer.bank, neighbour=2).leave_one_out()
    assert second.tolist() == pytest.approx([0.0, 0.6, 0.6, 0.6], abs=1e-3)
    kept = scorer.without_rows(1, 3)
    assert kept.bank.shape == (2, 2) and kept.threshold == scorer.threshold
    assert kept.score(rows[1:2]).item() == pytest.approx(0.8, abs=1e-3)


def test_captured_features_are_what_the_head_sees():
    model = tiny_spec().build().eval()
    pixels = torch.randn(2, 3, 64, 64)
    with torch.no_grad(), capture_features(model) as captured:
        model(pixels)
    with torch.no_grad(), HeadSwap(model):
        expected = model(pixels)
    assert len(captured) == 1 and torch.allclose(captured[0], expected)
    with torch.no_grad():
        model(pixels)
    assert len(captured) == 1  # the hook is gone


def test_scorer_round_trips_through_the_checkpoint(tmp_path):
    spec = tiny_spec()
    model = spec.build()
    width = model.get_submodule(last_linear_name(model)).in_features  # the features the bank holds
    bank = torch.nn.functional.normalize(torch.randn(5, width), dim=1).half()
    spec.landmark_scorer = LandmarkScorer(bank, 2, 0.42, fit={"landmark_recall": 0.95})
    save_checkpoint(tmp_path / "m.pt", spec, model.state_dict())
    scorer = load_model(tmp_path / "m.pt").spec.landmark_scorer
    assert scorer is not None and torch.equal(scorer.bank, bank)
    assert (scorer.neighbour, scorer.threshold, scorer.fit) == (2, 0.42, {"landmark_recall": 0.95})
    second_nearest = (bank.float() @ bank[0].float()).sort(descending=True).values[1]
    assert scorer.score(bank[:1].float()).item() == pytest.approx(second_nearest.item(), abs=1e-3)


def test_a_checkpoint_fitted_before_the_pooled_bank_reads_and_reports_as_before(tmp_path):
    from landmark_tag.cli.metrics import landmark_score_line

    spec = tiny_spec()
    model = spec.build()
    width = model.get_submodule(last_linear_name(model)).in_features
    bank = torch.nn.functional.normalize(torch.randn(5, width), dim=1).half()
    earlier_fit = {
        "landmark_recall_target": 0.95, "validation_photos": 70, "false_tag_rate_target": 0.01,
        "negative_photos": 244, "false_tag_rate": 0.0, "landmark_recall": 0.957,
    }  # fmt: skip
    spec.landmark_scorer = LandmarkScorer(bank, 1, 0.611, fit=dict(earlier_fit))
    save_checkpoint(tmp_path / "m.pt", spec, model.state_dict())
    scorer = load_model(tmp_path / "m.pt").spec.landmark_scorer
    assert scorer is not None and scorer.fit == earlier_fit and torch.equal(scorer.bank, bank)
    line = landmark_score_line(scorer.threshold, scorer.fit)
    assert "95.7% of 70 validation landmark photos" in line
    assert "lets 0.0% of 244 negative photos through" in line
    assert "taken for photos of them" not in line and "scored against the others" not in line
    assert "without --negatives" not in line
    without = landmark_score_line(
        0.6, {"landmark_recall_target": 0.95, "validation_photos": 70, "landmark_recall": 0.957}
    )
    assert "without --negatives, 2 to 6% of the photos of famous places it did not know" in without
    # A model fitted now says what its landmarks, each left out in turn, let through.
    now = landmark_score_line(0.66, {**earlier_fit, "unknown_rate": 0.096, "unknown_rate_target": 0.1})
    assert "lets 9.6% of its landmarks' photos through when each landmark is left out" in now
    assert "and 0.0% of 244 negative photos (at most 1.0%)" in now


def test_bad_banks_are_refused():
    with pytest.raises(ValueError):
        LandmarkScorer(torch.empty(0, 4))
    with pytest.raises(ValueError):
        LandmarkScorer(torch.ones(2, 4), method="energy")


@pytest.mark.parametrize(
    "arch",
    ["timm/tf_efficientnet_lite0", "torchvision/resnet18", "torchvision/mobilenet_v3_small", "seed_cnn"],
)
def test_every_kind_of_architecture_gives_features_to_score(arch):
    from landmark_tag.model.architectures import build_model, last_linear_name

    model = build_model(arch, 5).eval()
    head = model.get_submodule(last_linear_name(model))
    with torch.no_grad(), capture_features(model) as captured:
        logits = model(torch.randn(2, 3, 224, 224))
    assert logits.shape == (2, 5) and captured[0].shape == (2, head.in_features)
    scorer = LandmarkScorer(build_bank(captured[0], torch.zeros(2, dtype=torch.long)))
    assert scorer.score(captured[0]).tolist() == pytest.approx([1.0, 1.0], abs=2e-3)


def test_each_photo_is_scored_against_the_other_classes_only():
    # Two photos of class 0 side by side, one of class 1 at right angles, one of class 2 opposite.
    features = torch.tensor([[1.0, 0.0], [0.99, 0.141], [0.0, 1.0], [-1.0, 0.0]])
    targets = torch.tensor([0, 0, 1, 2])
    scores = leave_class_out(features, targets)
    # Class 0's photos score against class 1 and 2 only (not each other): a place the model does not know.
    assert scores.tolist() == pytest.approx([0.0, 0.141, 0.141, 0.0], abs=1e-3)
    assert torch.isnan(leave_class_out(features[:2], targets[:2])).all()  # one class: no stand-in


def test_photos_of_landmarks_left_out_raise_the_threshold_without_negatives():
    landmarks = torch.linspace(0.5, 1.0, 20)
    recall_only, _ = choose_threshold(landmarks, recall=0.95)
    unknown = torch.linspace(0.3, 0.8, 100)  # some places it does not know look like ones it does
    raised, fit = choose_threshold(landmarks, recall=0.95, unknown_scores=unknown, unknown_rate=0.1)
    assert raised > recall_only and fit["unknown_rate"] <= 0.1
    assert (unknown >= raised).double().mean() <= 0.1
    # Where they score low, the recall threshold stands.
    kept, _ = choose_threshold(landmarks, recall=0.95, unknown_scores=unknown - 1.0, unknown_rate=0.1)
    assert kept == recall_only
