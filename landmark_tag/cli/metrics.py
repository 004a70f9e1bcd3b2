"""How `train` and `evaluate` print their metrics: accuracy, calibration, risk-coverage, and
landmark photos against photos of no landmark."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from landmark_tag.runtime.int8_check import Int8Check
    from landmark_tag.training.evaluate import EvaluationResult
    from landmark_tag.training.landmark_score import OpenSetEvaluation


def print_evaluation(result: EvaluationResult, title: str, console: Console, per_class: bool = True) -> None:
    console.print(
        f"[bold]{title}[/]: {result.photos} photos  loss {result.loss:.3f}  top-1 {result.top1:.1%}  "
        f"top-3 {result.top3:.1%}  top-5 {result.top5:.1%}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"calibration: temperature {result.temperature:.3g}, expected calibration error "
        f"{result.ece_uncalibrated:.1%} before, {result.ece_calibrated:.1%} after",
        highlight=False,
        soft_wrap=True,
    )
    print_risk_coverage(result, console)
    if per_class:
        table = Table("class", "photos", "top-1", title="per-class accuracy", title_justify="left")
        for name, accuracy in result.per_class_accuracy.items():
            table.add_row(name, str(result.per_class_count[name]), f"{accuracy:.1%}")
        console.print(table)


def print_risk_coverage(result: EvaluationResult, console: Console) -> None:
    """Coverage and accuracy of the accepted photos at each threshold; the model's default marked."""
    table = Table(
        "min confidence", "accepted", "coverage", "accuracy", "",
        title="risk-coverage (calibrated top-1 probability)", title_justify="left",
    )  # fmt: skip
    for point in result.risk_coverage:
        default = point.threshold == result.min_confidence
        table.add_row(
            f"{point.threshold:.3f}",
            str(point.photos),
            f"{point.coverage:.1%}",
            "-" if point.photos == 0 else f"{point.accuracy:.1%}",
            "<- model default" if default else "",
            style="bold" if default else None,
        )
    console.print(table)


def print_open_set(evaluation: OpenSetEvaluation, console: Console) -> None:
    """Landmark photos mixed with negatives, judged at the model's thresholds and a sweep."""
    if not evaluation.has_landmark_score:
        console.print(
            "[yellow]this model has no landmark score[/] (trained before landmark-tag had one): "
            "every photo is judged on its top-1 probability alone",
            highlight=False,
        )
    console.print(
        f"landmark score: AUROC {evaluation.auroc:.3f}, false-positive rate at 95% true-positive rate "
        f"{evaluation.fpr_at_95_tpr:.1%}; lowest landmark photo {evaluation.lowest_landmark_score:.3f}, "
        f"highest negative {evaluation.highest_negative_score:.3f} ({evaluation.landmark_photos} landmark "
        f"photos, {evaluation.negative_photos} negatives)",
        highlight=False,
        soft_wrap=True,
    )
    model = evaluation.at_model_thresholds
    table = Table(
        "min landmark score", "landmarks tagged", "their top-1", "negatives tagged", "precision", "GAP", "",
        title=f"landmark photos + negatives, min confidence {model.min_confidence:.3f}",
        title_justify="left",
    )  # fmt: skip

    def percent(value: float) -> str:
        return "-" if value != value else f"{value:.1%}"  # nan: nothing to measure

    for point in evaluation.sweep:
        default = point.min_landmark_score == model.min_landmark_score
        table.add_row(
            f"{point.min_landmark_score:.3f}",
            percent(point.landmark_tagged),
            percent(point.tagged_top1),
            percent(point.false_tags),
            percent(point.precision),
            "-" if point.gap != point.gap else f"{point.gap:.3f}",
            "default" if default else "",
            style="bold" if default else None,
        )
    console.print(table)


def landmark_score_line(threshold: float, fit: dict) -> str:
    photos = (
        "training and validation photos, each scored against the others"
        if fit.get("scored") == "leave-one-out"
        else "validation landmark photos"
    )
    line = (
        f"default min landmark score {threshold:.3f}: it keeps {fit['landmark_recall']:.1%} of "
        f"{fit['validation_photos']} {photos} (target {fit['landmark_recall_target']:.0%})"
    )
    if "unknown_rate" in fit:
        line += (
            f", lets {fit['unknown_rate']:.1%} of its landmarks' photos through when each landmark is left"
            " out in turn, as stand-ins for places it does not know"
            f" (at most {fit['unknown_rate_target']:.0%})"
        )
    if "negative_photos" in fit:
        negatives = f"{fit['false_tag_rate']:.1%} of {fit['negative_photos']} negative photos"
        line += f" and {negatives}" if "unknown_rate" in fit else f" and lets {negatives} through"
        line += f" (at most {fit['false_tag_rate_target']:.1%})"
    else:  # measured over 5 splits: 3.5% (2-6%) without negatives, 2.9% (1-6%) with
        line += (
            "; without --negatives, 2 to 6% of the photos of famous places it did not know were still"
            " taken for one it knows (docs/quality.md): photos of other places as --negatives (your own"
            " library will do) fit the threshold to your kind of photos"
        )
    if fit.get("landmark_like_negatives"):
        examples = fit.get("landmark_like_examples", [])
        line += (
            f"; {fit['landmark_like_negatives']} more negative photos score like the landmarks and are "
            "taken for photos of them" + (f" ({', '.join(examples[:5])}, ...)" if examples else "")
        )
    return line


def int8_line(check: Int8Check | None, skipped: str | None = None) -> str:
    """What `train` says of the portable int8 model it built (see `runtime.portable_int8`)."""
    if skipped is not None:
        return f"int8: not built: {skipped}"
    if check is None:
        return "int8: not built (OpenVINO cannot run here); scans quantize their own where they can"
    verdict = (
        "passed under AVX2's arithmetic: the checkpoint carries int8, which a scan checks again on its "
        "CPU and runs where it passes there (the default without native bf16)"
        if check.passed
        else "failed: the checkpoint carries no int8; scans without native bf16 quantize their own"
    )
    return f"int8 check {verdict} ({check.describe()})"
