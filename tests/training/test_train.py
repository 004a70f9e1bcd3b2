from pathlib import Path

import pytest
import torch

from landmark_tag.errors import ConfigError
from landmark_tag.files.results import read_results
from landmark_tag.model.checkpoint import PortableInt8, load_model, read_checkpoint
from landmark_tag.model.gazetteer import load_gazetteer
from landmark_tag.pipeline.scan import ScanConfig, scan
from landmark_tag.runtime.portable_int8 import build_portable_int8
from landmark_tag.training import int8 as int8_module
from landmark_tag.training.config import TrainConfig
from landmark_tag.training.data import DatasetError
from landmark_tag.training.train import sidecar_paths, train
from tests.helpers import SHARED_DATA, make_image_folder, make_negatives_folder

PASSING_CHECK = {
    "photos": 3,
    "negatives": 0,
    "decisions_changed": 0,
    "decisions_allowed": 1,
    "wrong_tags": 0,
    "top1_agreement": 1.0,
    "probability_mean_change": 0.001,
    "probability_max_change": 0.002,
    "score_mean_change": None,
    "score_max_change": None,
    "auroc_fp32": None,
    "auroc_int8": None,
}


class StopAfter:
    """A reporter that interrupts training once `epochs` epochs are saved, like a Ctrl-C."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def task_started(self, description, total):
        pass

    def advance(self):
        pass

    def epoch_finished(self, metrics, improved):
        if metrics.epoch == self.epochs:
            raise KeyboardInterrupt


def scratch_config(data, out, **overrides) -> TrainConfig:
    options = {"kind": "scratch", "arch": "seed", "data": str(data), "out": str(out), "epochs": 4}
    options |= {"batch_size": 8, "patience": 0, "device": "cpu", "workers": 0, "lr": 1e-3}
    options.update(overrides)
    return TrainConfig(**options)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("data"), classes=3, per_class=6)


def test_scratch_training_writes_checkpoint_and_metrics(tmp_path, folder):
    result = train(scratch_config(folder, tmp_path / "m.pt", epochs=2))
    loaded = load_model(result.checkpoint)
    assert loaded.spec.arch == "seed_cnn"
    assert loaded.spec.class_names == ["00.Class_A", "01.Class_B", "02.Class_C"]
    assert loaded.spec.metadata["train_args"]["arch"] == "seed"
    assert result.metrics_file.read_text().splitlines()[0].startswith("epoch,train_loss")
    assert len(result.metrics_file.read_text().splitlines()) == 3
    assert not sidecar_paths(tmp_path / "m.pt")[0].exists()  # the resume file goes once finished


def test_train_stores_calibration_photos_and_carries_the_int8_it_built(tmp_path, folder, monkeypatch):
    monkeypatch.setattr(int8_module, "build_portable_int8", build_portable_int8)  # the real one
    result = train(scratch_config(folder, tmp_path / "m.pt", epochs=1, int8=True))
    loaded = load_model(result.checkpoint)
    photos = loaded.calibration_photos
    assert photos is not None
    # 3 classes x 6 photos, a fifth held out: every training photo calibrates, every validation
    # photo checks (each under its limit), and they decode to the model's input size.
    assert (len(photos.calibration), len(photos.validation), len(photos.negatives)) == (15, 3, 0)
    preprocessing = loaded.spec.preprocessing
    assert photos.pixels("validation", preprocessing).shape[1:] == (
        3,
        preprocessing.input_size,
        preprocessing.input_size,
    )
    assert result.int8 is not None and result.int8.photos == 3  # built and checked at the end
    assert (loaded.portable_int8 is not None) == result.int8.passed  # carried only when it passed


@pytest.mark.parametrize("passed", [True, False])
def test_train_carries_only_an_int8_that_passed_its_check(tmp_path, folder, monkeypatch, passed):
    details = {"search": "direct", "check": {**PASSING_CHECK, "passed": passed}, "isa": "AVX2"}
    built = PortableInt8(b"<net/>", b"weights", details)
    monkeypatch.setattr(int8_module, "build_portable_int8", lambda checkpoint, searches: built)
    result = train(scratch_config(folder, tmp_path / "m.pt", epochs=1, int8=True))
    assert result.int8 is not None and result.int8.passed == passed
    carried = load_model(result.checkpoint).portable_int8
    assert (carried == built) if passed else carried is None
    assert load_model(result.checkpoint).calibration_photos is not None  # for machines that search


@pytest.mark.parametrize("asked", [True, False])
def test_int8_is_built_on_every_cpu_unless_told_not_to(tmp_path, folder, monkeypatch, asked):
    # Seconds, and a checkpoint trained where scans run bf16 then suits CPUs without it as well.
    searched = []
    monkeypatch.setattr(int8_module, "build_portable_int8", lambda *args: searched.append(1))
    result = train(scratch_config(folder, tmp_path / "m.pt", epochs=1, int8=asked))
    assert bool(searched) == asked and (result.int8_skipped is None) == asked
    assert asked or "--no-int8" in result.int8_skipped


def test_resume_continues_from_the_saved_epoch_and_matches_an_unbroken_run(tmp_path, folder):
    unbroken = train(scratch_config(folder, tmp_path / "a.pt"))
    with pytest.raises(KeyboardInterrupt):
        train(scratch_config(folder, tmp_path / "b.pt"), reporter=StopAfter(2))
    last, _ = sidecar_paths(tmp_path / "b.pt")
    payload, _ = read_checkpoint(last)
    assert payload["training_state"]["fit_state"]["epoch"] == 2

    seen = []

    class Record(StopAfter):
        def epoch_finished(self, metrics, improved):
            seen.append(metrics.epoch)

    resumed = train(scratch_config(folder, tmp_path / "b.pt", resume=True), reporter=Record(0))
    assert seen == [3, 4]
    assert resumed.epochs_run == 4
    a, b = read_checkpoint(tmp_path / "a.pt")[0], read_checkpoint(tmp_path / "b.pt")[0]
    for key, value in a["state_dict"].items():
        assert torch.allclose(value.float(), b["state_dict"][key].float(), atol=1e-5), key
    assert [m["valid_loss"] for m in a["spec"]["metadata"]["history"]] == pytest.approx(
        [m["valid_loss"] for m in b["spec"]["metadata"]["history"]], abs=1e-5
    )
    assert unbroken.epochs_run == 4


def test_resume_refuses_a_different_run(tmp_path, folder):
    with pytest.raises(KeyboardInterrupt):
        train(scratch_config(folder, tmp_path / "m.pt"), reporter=StopAfter(1))
    with pytest.raises(ValueError, match="cannot resume"):
        train(scratch_config(folder, tmp_path / "m.pt", arch="landmark_cnn", resume=True))
    with pytest.raises(ConfigError, match="nothing to resume"):
        train(scratch_config(folder, tmp_path / "other.pt", resume=True))


def test_early_stopping(tmp_path, folder):
    result = train(scratch_config(folder, tmp_path / "m.pt", epochs=30, patience=1, lr=0.5))
    assert result.epochs_run < 30


def test_frozen_transfer_learns_easy_classes_and_the_scan_uses_it(tmp_path):
    root = tmp_path / "data"
    make_image_folder(root / "train", classes=3, per_class=8)
    make_image_folder(root / "test", classes=3, per_class=2, seed=1)
    gazetteer = tmp_path / "places.csv"
    gazetteer.write_text(
        "class_name,name,latitude,longitude,country,wikidata\n"
        "Class_A,Class A,10.5,20.25,FR,\n01.Class_B,Class B,-30.0,-60.0,AR,\nClass_Z,Typo,1,1,,\n"
    )
    config = TrainConfig(
        kind="transfer",
        data=str(root),
        out=str(tmp_path / "m.pt"),
        epochs=15,
        feature_views=0,
        device="cpu",
        workers=0,
        gazetteer=str(gazetteer),
    )
    result = train(config)
    assert result.valid.top1 == 1.0
    assert result.test is not None and result.test.photos == 6 and result.test.top1 == 1.0
    spec = load_model(result.checkpoint).spec
    assert spec.metadata["test"]["top1"] == 1.0
    assert sorted(spec.places) == ["00.Class_A", "01.Class_B"] and result.places == 2
    # Calibration was fitted, stored, and reported.
    assert spec.temperature == result.calibration.temperature != 1.0
    assert spec.min_confidence == result.calibration.min_confidence > 0
    assert spec.metadata["calibration"]["ece_after"] == result.calibration.ece_after
    assert result.valid.temperature == spec.temperature and len(result.valid.risk_coverage) >= 8
    # The landmark score: a bank of the 18 training photos' features, a threshold keeping 95% of the
    # validation photos.
    scorer = spec.landmark_scorer
    # Frozen: the 18 training and 6 validation photos are the bank, each scored against the others.
    assert scorer is not None and scorer.bank.shape == (24, 1280) and scorer.bank.dtype == torch.float16
    assert scorer.threshold == result.landmark_scorer.threshold
    assert scorer.fit["landmark_recall"] >= 0.95 and scorer.fit["validation_photos"] == 24
    out = tmp_path / "tags.csv"
    scan(
        ScanConfig([str(root / "test")], str(out), model=str(result.checkpoint), workers=0, min_confidence=0)
    )
    frame = read_results(out)
    expected = frame["path"].str.extract(r"/\d\d\.Class_(\w)/")[0]
    assert (frame["landmark_1"] == expected.map(lambda c: f"Class {c}")).all()
    assert frame["estimated_latitude"].fillna(999).tolist() == [
        10.5,
        10.5,
        -30.0,
        -30.0,
        999,
        999,
    ]  # C: no place


def test_negatives_raise_the_landmark_threshold_of_a_scratch_model(tmp_path, folder):
    negatives = make_negatives_folder(tmp_path / "negatives", per_kind=2)
    # Two landmark photos among the negatives, as in a user's own library: taken for what they are.
    landmark_photos = sorted(p for p in Path(folder).rglob("*.jpg"))[:2]
    for index, photo in enumerate(landmark_photos):
        (negatives / f"mine-{index}.jpg").write_bytes(photo.read_bytes())
    plain = train(scratch_config(folder, tmp_path / "a.pt", epochs=1))
    with_negatives = train(
        scratch_config(folder, tmp_path / "b.pt", epochs=1, negatives=str(negatives), false_tag_rate=0.0)
    )
    scorer = load_model(with_negatives.checkpoint).spec.landmark_scorer
    assert scorer.bank.shape == (15, 128)  # the seed network's 128 penultimate features
    fit = scorer.fit
    assert fit["negative_photos"] == 12 and fit["false_tag_rate"] == 0.0
    assert sorted(Path(name).name for name in fit["landmark_like_examples"]) == ["mine-0.jpg", "mine-1.jpg"]
    assert scorer.threshold >= plain.landmark_scorer.threshold  # the same run, plus negatives
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no photos"):
        train(scratch_config(folder, tmp_path / "c.pt", epochs=1, negatives=str(tmp_path / "empty")))


def test_unreadable_negatives_keep_the_trained_model_for_resume(tmp_path, folder):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.jpg").write_bytes(b"not a photo")
    out = tmp_path / "m.pt"
    with pytest.raises(DatasetError, match=r"^--negatives: none of the 1 photos could be decoded.*--resume$"):
        train(scratch_config(folder, out, epochs=1, negatives=str(broken)))
    negatives = make_negatives_folder(tmp_path / "negatives", per_kind=1)
    resumed = train(scratch_config(folder, out, epochs=1, negatives=str(negatives), resume=True))
    assert resumed.epochs_run == 1 and load_model(out).spec.landmark_scorer.fit["negative_photos"] == 6


def test_no_data_and_no_download(tmp_path):
    with pytest.raises(DatasetError, match="no-download"):
        train(TrainConfig(kind="scratch", out=str(tmp_path / "m.pt"), download=False))


@pytest.mark.real_photos
@pytest.mark.real_weights
@pytest.mark.skipif(
    not (SHARED_DATA / "wonders7-train").exists() or not (SHARED_DATA / "negatives-dev").exists(),
    reason="needs ../shared/data/wonders7-train and negatives-dev",
)
def test_frozen_lite0_on_real_wonders_subset_names_and_locates_photos(tmp_path):
    """Real weights on real photos, with the example gazetteer of the 7 wonders."""
    gazetteer = Path(__file__).resolve().parents[2] / "examples" / "wonders7-gazetteer.csv"
    config = TrainConfig(
        kind="transfer",
        data=str(SHARED_DATA / "wonders7-train"),
        out=str(tmp_path / "m.pt"),
        limit_per_class=12,
        valid_fraction=0.25,
        feature_views=0,
        epochs=20,
        device="cpu",
        gazetteer=str(gazetteer),
    )
    result = train(config)
    assert result.valid.photos == 21 and result.valid.top1 >= 0.8
    assert 0.05 < result.calibration.temperature < 20
    assert result.places == 7
    sites = {place.class_name: place for place in load_gazetteer(gazetteer).values()}
    photos = [
        str(p) for name in sites for p in sorted((SHARED_DATA / "wonders7-train" / name).iterdir())[12:16]
    ]
    out = tmp_path / "tags.parquet"
    scan(ScanConfig(photos, str(out), model=str(result.checkpoint), min_confidence=0.0))
    frame = read_results(out)
    tagged = frame[frame["status"] == "tagged"]
    truth = tagged["path"].map(lambda p: sites[Path(p).parent.name])
    correct = tagged[tagged["landmark_1"] == truth.map(lambda place: place.name)]
    assert len(correct) >= 0.8 * len(tagged) > 0
    for (_, row), place in zip(correct.iterrows(), truth[correct.index], strict=True):
        assert abs(row["estimated_latitude"] - place.latitude) < 0.05
        assert abs(row["estimated_longitude"] - place.longitude) < 0.05
    strict = tmp_path / "strict.parquet"
    scan(ScanConfig(photos, str(strict), model=str(result.checkpoint), min_confidence=0.99))
    frame = read_results(strict)
    uncertain = frame[frame["status"] == "uncertain"]
    assert len(uncertain) > 0 and uncertain["estimated_latitude"].isna().all()
    # Real photos of no landmark (ants and bees) and generated ones are no_landmark, with no location.
    negatives = sorted((SHARED_DATA / "negatives-dev").rglob("*.jpg"))[::25]
    negatives += sorted(make_negatives_folder(tmp_path / "generated").iterdir())
    out = tmp_path / "negatives.parquet"
    scan(ScanConfig([str(p) for p in negatives], str(out), model=str(result.checkpoint)))
    frame = read_results(out)
    assert len(frame) == len(negatives) > 20
    assert (frame["status"] == "no_landmark").all() and frame["estimated_latitude"].isna().all()
