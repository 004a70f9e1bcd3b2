import json

from PIL import Image
from typer.testing import CliRunner

from landmark_tag.cli import app
from tests.helpers import (
    TINY_PLACES,
    add_landmark_scorer,
    negative_photo,
    save_photo,
    scene,
    write_tiny_checkpoint,
)

runner = CliRunner()


def test_predict_text_and_json(tmp_path, tiny_model):
    photo = save_photo(tmp_path / "a.jpg", scene(seed=5))
    text = runner.invoke(app, ["predict", str(photo), "-m", str(tiny_model), "--k", "2"])
    assert text.exit_code == 0, text.output
    assert "1. " in text.output and "2. " in text.output and "3. " not in text.output
    # The tiny model has no places: a tag without a location says why.
    assert "no location: the model has no coordinates for this landmark" in text.output
    result = runner.invoke(app, ["predict", str(photo), "-m", str(tiny_model), "--k", "3", "--json"])
    data = json.loads(result.stdout)
    assert data[0]["path"] == str(photo)
    probabilities = [g["probability"] for g in data[0]["guesses"]]
    assert probabilities == sorted(probabilities, reverse=True) and len(probabilities) == 3


def test_predict_runs_in_either_runtime_with_the_same_answer(tmp_path, tiny_model):
    photo = save_photo(tmp_path / "a.jpg", scene(seed=5))
    answers = []
    for runtime in ("openvino", "torch"):
        args = [
            "predict",
            str(photo),
            "-m",
            str(tiny_model),
            "--json",
            "--runtime",
            runtime,
            "--precision",
            "fp32",
        ]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        answers.append(json.loads(result.stdout)[0]["guesses"])
    assert [g["class_name"] for g in answers[0]] == [g["class_name"] for g in answers[1]]
    for a, b in zip(answers[0], answers[1], strict=True):
        assert abs(a["probability"] - b["probability"]) < 1e-4


def test_predict_show_saves_picture(tmp_path, tiny_model):
    photo = save_photo(tmp_path / "a.jpg", scene(seed=5))
    result = runner.invoke(
        app, ["predict", str(photo), "-m", str(tiny_model), "--show", str(tmp_path / "s.png")]
    )
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "s.png") as picture:
        assert picture.width > 320 and picture.height == 320


def test_predict_show_draws_small_and_large_photos_at_the_same_height(tmp_path):
    from landmark_tag.figure import fitted_photo

    small = save_photo(tmp_path / "small.png", scene((80, 60), seed=1))
    large = save_photo(tmp_path / "large.jpg", scene((1600, 1200), seed=2))
    wide = save_photo(tmp_path / "wide.jpg", scene((3000, 500), seed=3))
    assert fitted_photo(str(small)).size == fitted_photo(str(large)).size == (427, 320)
    assert fitted_photo(str(wide)).size == (640, 107)  # at most twice as wide as high


def test_predict_bad_image_is_reported(tmp_path, tiny_model):
    (tmp_path / "bad.jpg").write_bytes(b"")
    result = runner.invoke(app, ["predict", str(tmp_path / "bad.jpg"), "-m", str(tiny_model)])
    assert result.exit_code == 1
    assert "failed" in result.output and "Traceback" not in result.output


def test_predict_shows_location_or_uncertainty(tmp_path):
    model = write_tiny_checkpoint(tmp_path / "m.pt", class_names=list(TINY_PLACES), places=TINY_PLACES)
    photo = save_photo(tmp_path / "a.jpg", scene(seed=5))
    data = json.loads(runner.invoke(app, ["predict", str(photo), "-m", str(model), "--json"]).stdout)[0]
    assert data["status"] == "tagged"
    place = TINY_PLACES[data["guesses"][0]["class_name"]]
    assert (data["place"]["latitude"], data["place"]["country"]) == (place.latitude, place.country)
    text = runner.invoke(app, ["predict", str(photo), "-m", str(model)]).output
    assert f"location: {place.latitude:.4f}, {place.longitude:.4f} ({place.country})" in text
    strict = runner.invoke(
        app, ["predict", str(photo), "-m", str(model), "--min-confidence", "0.999", "--json"]
    )
    assert (
        json.loads(strict.stdout)[0]["status"] == "uncertain"
        and json.loads(strict.stdout)[0]["place"] is None
    )
    text = runner.invoke(app, ["predict", str(photo), "-m", str(model), "--min-confidence", "0.999"]).output
    assert "uncertain" in text and "location:" not in text


def test_predict_says_no_landmark_with_its_score(tmp_path):
    model = write_tiny_checkpoint(tmp_path / "m.pt", class_names=list(TINY_PLACES), places=TINY_PLACES)
    landmark = save_photo(tmp_path / "landmark.jpg", scene(seed=5))
    add_landmark_scorer(model, [landmark])
    other = save_photo(tmp_path / "page.jpg", negative_photo("document"))
    result = runner.invoke(app, ["predict", str(landmark), str(other), "-m", str(model), "--json"])
    assert result.exit_code == 0, result.output
    first, second = json.loads(result.stdout)
    assert first["status"] == "tagged" and first["landmark_score"] > 0.999 and first["place"]
    assert second["status"] == "no_landmark" and second["landmark_score"] < 0.999
    assert second["place"] is None and len(second["guesses"]) == 3
    text = runner.invoke(app, ["predict", str(other), "-m", str(model)]).stdout
    assert "no landmark:" in text and f"landmark score {second['landmark_score']:.3f}" in text
    assert "location:" not in text
    # A lower threshold for this run accepts it.
    loose = runner.invoke(
        app, ["predict", str(other), "-m", str(model), "--min-landmark-score", "-1", "--json"]
    )
    assert json.loads(loose.stdout)[0]["status"] == "tagged"


def test_predict_with_an_old_model_warns_once_on_stderr(tmp_path, tiny_model):
    photo = save_photo(tmp_path / "a.jpg", scene(seed=5))
    result = runner.invoke(app, ["predict", str(photo), "-m", str(tiny_model), "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)[0]["landmark_score"] is None
    assert result.stderr.count("has no landmark score") == 1
    refused = runner.invoke(
        app, ["predict", str(photo), "-m", str(tiny_model), "--min-landmark-score", "0.5"]
    )
    assert refused.exit_code == 1 and "retrain" in refused.stderr and "Traceback" not in refused.output


def test_pictures_draw_every_latin_letter():
    from PIL import ImageDraw

    from landmark_tag.figure import font

    drawn = font(18)

    def pixels(text: str) -> bytes:
        picture = Image.new("L", (40, 40))
        ImageDraw.Draw(picture).text((5, 5), text, font=drawn, fill=255)
        return picture.tobytes()

    assert drawn.getname()[0] == "DejaVu Sans"
    # Each accented letter of the gazetteer's names has a glyph of its own, not the missing-glyph box.
    assert all(pixels(letter) != pixels("\uffff") for letter in "éáāłó")
