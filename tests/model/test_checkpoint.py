import pytest
import torch

from landmark_tag.model.checkpoint import (
    CheckpointError,
    ModelNotFoundError,
    ModelSpec,
    PortableInt8,
    attach_portable_int8,
    default_model_path,
    display_name,
    load_model,
    read_checkpoint,
    save_checkpoint,
)
from tests.helpers import TINY_PLACES, tiny_spec, write_tiny_checkpoint


def test_round_trip_keeps_weights_and_spec(tmp_path):
    torch.manual_seed(1)
    spec = tiny_spec()
    spec.temperature = 1.7
    spec.min_confidence = 0.42
    spec.places = dict(TINY_PLACES)
    spec.metadata = {"epochs": 3, "metrics": {"valid_top1": 0.5}}
    model = spec.build().eval()
    path = tmp_path / "m.pt"
    save_checkpoint(path, spec, model.state_dict())
    loaded = load_model(path)
    assert loaded.spec == spec
    assert loaded.spec.places["01.Blue_Lagoon"].country == "IS"
    assert loaded.spec.display_names == ["Red Fort", "Blue Lagoon", "Green Park", "Grey Tower"]
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(loaded.model(x), model(x))
    assert not loaded.model.training
    assert loaded.name.startswith("landmark_cnn@") and len(loaded.fingerprint) == 12


def test_a_portable_int8_is_carried_whole_and_changes_the_fingerprint(tmp_path):
    path = write_tiny_checkpoint(tmp_path / "m.pt")
    before = load_model(path)
    assert before.portable_int8 is None
    portable = PortableInt8(
        b"<net>...</net>", bytes(range(256)) * 3, {"search": "quick", "check": {"passed": True}}
    )
    attach_portable_int8(path, portable)
    after = load_model(path)
    assert after.portable_int8 == portable
    assert after.fingerprint != before.fingerprint  # so nothing cached for the old file is reused
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(after.model(x), before.model(x))


def test_missing_file(tmp_path):
    with pytest.raises(ModelNotFoundError):
        load_model(tmp_path / "none.pt")


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"definitely not torch")
    with pytest.raises(CheckpointError, match="not a landmark-tag checkpoint"):
        load_model(tmp_path / "junk.pt")
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="marker"):
        load_model(tmp_path / "other.pt")


def test_wrong_version(tmp_path):
    path = write_tiny_checkpoint(tmp_path / "m.pt")
    payload, _ = read_checkpoint(path)
    payload["format_version"] = 99
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="version 99"):
        load_model(path)


def test_version_1_checkpoints_still_load_with_built_in_places(tmp_path):
    spec = tiny_spec(["16.Eiffel_Tower", "My_Garden"])
    path = tmp_path / "v1.pt"
    save_checkpoint(path, spec, spec.build().state_dict())
    payload, _ = read_checkpoint(path)
    payload["format_version"] = 1
    for key in ("places", "min_confidence"):  # version 1 had neither
        del payload["spec"][key]
    torch.save(payload, path)
    loaded = load_model(path)
    assert loaded.spec.min_confidence == 0.0
    assert list(loaded.spec.places) == ["16.Eiffel_Tower"]
    assert loaded.spec.places["16.Eiffel_Tower"].wikidata == "Q243"
    assert loaded.spec.display_names == ["Eiffel Tower", "My Garden"]


def test_mismatched_weights(tmp_path):
    path = write_tiny_checkpoint(tmp_path / "m.pt")
    payload, _ = read_checkpoint(path)
    payload["spec"]["arch_args"]["width"] = 8
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="damaged or incompatible"):
        load_model(path)


def test_display_names():
    assert display_name("16.Eiffel_Tower") == "Eiffel Tower"
    assert display_name("04.Wroclaws_Dwarves") == "Wroclaws Dwarves"
    assert display_name("Taj Mahal") == "Taj Mahal"
    assert ModelSpec("seed_cnn", ["00.A_b"]).display_names == ["A b"]


def test_default_model_path(monkeypatch, tmp_path):
    monkeypatch.setenv("LANDMARK_TAG_HOME", str(tmp_path))
    assert default_model_path() == tmp_path / "model.pt"
    monkeypatch.delenv("LANDMARK_TAG_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_model_path() == tmp_path / "xdg" / "landmark-tag" / "model.pt"


@pytest.fixture
def scored_checkpoint(tmp_path):
    """A tiny checkpoint with a landmark scorer whose bank holds 5 unit vectors of the model's width."""
    from landmark_tag.model.architectures import last_linear_name
    from landmark_tag.model.openset import LandmarkScorer

    path = write_tiny_checkpoint(tmp_path / "m.pt")
    loaded = load_model(path)
    width = loaded.model.get_submodule(last_linear_name(loaded.model)).in_features
    bank = torch.nn.functional.normalize(torch.randn(5, width), dim=1).half()
    loaded.spec.landmark_scorer = LandmarkScorer(bank, threshold=0.5)
    save_checkpoint(path, loaded.spec, loaded.model.state_dict())
    return path


def damage(path, change) -> None:
    payload, _ = read_checkpoint(path)
    change(payload["spec"])
    torch.save(payload, path)


def scorer_bank(spec, bank) -> None:
    spec["landmark_scorer"]["bank"] = bank


DAMAGES = {
    "temperature NaN": (lambda s: s.update(temperature=float("nan")), "temperature is nan"),
    "temperature 0": (lambda s: s.update(temperature=0.0), "temperature is 0.0"),
    "temperature negative": (lambda s: s.update(temperature=-2.0), "temperature is -2.0"),
    "min confidence 3": (lambda s: s.update(min_confidence=3.0), "min confidence is 3.0"),
    "bank not normalised": (
        lambda s: scorer_bank(s, s["landmark_scorer"]["bank"] * 40),
        "not unit vectors",
    ),
    "bank NaN": (lambda s: scorer_bank(s, s["landmark_scorer"]["bank"] * float("nan")), "NaN"),
    "bank zero": (lambda s: scorer_bank(s, s["landmark_scorer"]["bank"] * 0), "not unit vectors"),
    "bank too wide": (
        lambda s: scorer_bank(s, torch.nn.functional.normalize(torch.randn(5, 999), dim=1).half()),
        "999 features wide",
    ),
    "k beyond the bank": (lambda s: s["landmark_scorer"].update(neighbour=50), "k is 50, for a bank of 5"),
    "threshold 1.5": (lambda s: s["landmark_scorer"].update(threshold=1.5), "threshold is 1.5"),
}


@pytest.mark.parametrize("name", DAMAGES)
def test_every_stored_number_is_checked_when_a_checkpoint_loads(scored_checkpoint, name):
    change, message = DAMAGES[name]
    load_model(scored_checkpoint)  # sound before
    damage(scored_checkpoint, change)
    with pytest.raises(CheckpointError, match="damaged checkpoint") as error:
        load_model(scored_checkpoint)
    assert message in str(error.value)
    assert "--min-landmark-score" not in str(error.value)  # the stored number, not the option, is bad
