import json

from PIL import Image
from typer.testing import CliRunner

from landmark_tag.cli import app
from tests.helpers import TINY_PLACES, save_photo, scene, write_tiny_checkpoint

runner = CliRunner()


def test_predict_text_and_json(tmp_path, tiny_model):
    photo = save_photo(tmp_path / "a.jpg", scene(seed=5))
    text = runner.invoke(app, ["predict", str(photo), "-m", str(tiny_model), "--k", "2"])
    assert text.exit_code == 0, text.output
    assert "1. " in text.output and "2. " in text.output and "3. " not in text.output
    result = runner.invoke(app, ["predict", str(photo), "-m", str(tiny_model), "--k", "3", "--json"])
    data = json.loads(result.output)
    assert data[0]["path"] == str(photo)
    probabilities = [g["probability"] for g in data[0]["guesses"]]
    assert probabilities == sorted(probabilities, reverse=True) and len(probabilities) == 3


def test_predict_show_saves_picture(tmp_path, tiny_model):
    photo = save_photo(tmp_path / "a.jpg", scene(seed=5))
    result = runner.invoke(
        app, ["predict", str(photo), "-m", str(tiny_model), "--show", str(tmp_path / "s.png")]
    )
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "s.png") as picture:
        assert picture.width > 320 and picture.height == 320


def test_predict_bad_image_is_reported(tmp_path, tiny_model):
    (tmp_path / "bad.jpg").write_bytes(b"")
    result = runner.invoke(app, ["predict", str(tmp_path / "bad.jpg"), "-m", str(tiny_model)])
    assert result.exit_code == 1
    assert "failed" in result.output and "Traceback" not in result.output


def test_predict_shows_location_or_uncertainty(tmp_path):
    model = write_tiny_checkpoint(tmp_path / "m.pt", class_names=list(TINY_PLACES), places=TINY_PLACES)
    photo = save_photo(tmp_path / "a.jpg", scene(seed=5))
    data = json.loads(runner.invoke(app, ["predict", str(photo), "-m", str(model), "--json"]).output)[0]
    assert data["status"] == "tagged"
    place = TINY_PLACES[data["guesses"][0]["class_name"]]
    assert (data["place"]["latitude"], data["place"]["country"]) == (place.latitude, place.country)
    text = runner.invoke(app, ["predict", str(photo), "-m", str(model)]).output
    assert f"location: {place.latitude:.4f}, {place.longitude:.4f} ({place.country})" in text
    strict = runner.invoke(
        app, ["predict", str(photo), "-m", str(model), "--min-confidence", "0.999", "--json"]
    )
    assert (
        json.loads(strict.output)[0]["status"] == "uncertain"
        and json.loads(strict.output)[0]["place"] is None
    )
    text = runner.invoke(app, ["predict", str(photo), "-m", str(model), "--min-confidence", "0.999"]).output
    assert "uncertain" in text and "location:" not in text
