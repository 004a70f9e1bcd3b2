"""`landmark-tag predict`: the top-k landmarks of single images, as text or JSON."""

from __future__ import annotations

import json
from dataclasses import asdict

import typer
from rich.console import Console

from landmark_tag.cli.app import (
    app,
    check_device,
    fatal_errors,
    precision_option,
    runtime_option,
    setup_logging,
)
from landmark_tag.files.paths import default_model_path
from landmark_tag.files.results import Status
from landmark_tag.model.gazetteer import NO_COORDINATES


# Long by declaration only: one parameter per option (typer's way).
@app.command("predict")
def predict_command(
    images: list[str] = typer.Argument(..., help="Image files.", show_default=False, metavar="IMAGE"),
    k: int = typer.Option(3, "--k", "-k", min=1, help="How many landmarks to show per image."),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Checkpoint to use. Default: the model `landmark-tag train` writes."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
    show: str | None = typer.Option(
        None, "--show", help="Also save a picture of each image beside its top-k."
    ),
    min_confidence: float | None = typer.Option(
        None,
        "--min-confidence",
        min=0.0,
        max=1.0,
        help="Below this top-1 probability an image is uncertain. Default: the model's threshold.",
    ),
    min_landmark_score: float | None = typer.Option(
        None,
        "--min-landmark-score",
        min=-1.0,
        max=1.0,
        help="Below this landmark score an image shows no landmark the model knows. "
        "Default: the model's threshold.",
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda.", callback=check_device),
    runtime: str = runtime_option(),
    precision: str = precision_option(),
) -> None:
    """Print the most likely landmarks for each image, and where the best one is."""
    # The model stack loads only when a command needs it: `--help` and `report` stay quick.
    from landmark_tag.figure import render_predictions
    from landmark_tag.host.device import resolve_device
    from landmark_tag.host.process import prepare_inference_process
    from landmark_tag.model.checkpoint import load_model
    from landmark_tag.pipeline.execute.predict import predict_landmarks

    setup_logging(False)
    with fatal_errors(model_given=model is not None):
        prepare_inference_process(resolve_device(device))  # this process only runs the model
        loaded = load_model(model or default_model_path())
        predictions = predict_landmarks(
            images,
            k=k,
            model=loaded,
            device=device,
            min_confidence=min_confidence,
            min_landmark_score=min_landmark_score,
            runtime=runtime,
            precision=precision,
        )
        if show:
            render_predictions(predictions, show)
    console = Console()
    if as_json:
        console.print_json(json.dumps([asdict(p) for p in predictions]))
    else:
        for prediction in predictions:
            console.print(f"[bold]{prediction.path}[/]", highlight=False)
            if prediction.error:
                console.print(f"  [red]failed:[/] {prediction.error}", highlight=False)
            for rank, guess in enumerate(prediction.guesses, 1):
                console.print(f"  {rank}. {guess.landmark:<40} {guess.probability:7.2%}", highlight=False)
            if prediction.landmark_score is not None:
                console.print(f"  landmark score {prediction.landmark_score:.3f}", highlight=False)
            if prediction.status == Status.NO_LANDMARK.value:
                console.print(
                    "  [magenta]no landmark:[/] unlike every landmark the model knows; no location",
                    highlight=False,
                )
            elif prediction.status == Status.UNCERTAIN.value:
                console.print(
                    "  [yellow]uncertain:[/] below the confidence threshold; no location", highlight=False
                )
            elif prediction.place is not None:
                place = prediction.place
                console.print(
                    f"  location: {place.latitude:.4f}, {place.longitude:.4f}"
                    + (f" ({place.country})" if place.country else ""),
                    highlight=False,
                )
            elif prediction.status == Status.TAGGED.value:
                console.print(f"  no location: {NO_COORDINATES}", highlight=False)
    if show:
        Console(stderr=True).print(f"saved {show}")
    if any(p.error for p in predictions):
        raise typer.Exit(1)
