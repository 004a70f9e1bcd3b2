from pathlib import Path

import pytest

from tests.helpers import write_tiny_checkpoint

# Left out of a plain `pytest` run, which stays a few minutes of behaviour on tiny models: Ray's
# tests spend most of their time starting worker processes, `slow` ones measure, and those with the
# real weights or photos train real networks. `--all` (CI, the README's command) runs them too; so
# does naming them with -m.
LONG_MARKERS = ("ray", "slow", "real_weights", "real_photos")


def pytest_addoption(parser: pytest.Parser) -> None:
    help_text = "also run the tests marked " + ", ".join(LONG_MARKERS)
    parser.addoption("--all", action="store_true", help=help_text)


def leaves_long_tests_out(config: pytest.Config) -> bool:
    return not config.getoption("--all") and not config.option.markexpr


def pytest_report_header(config: pytest.Config) -> str | None:
    if leaves_long_tests_out(config):
        return f"tests marked {' or '.join(LONG_MARKERS)} are left out; --all runs them"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not leaves_long_tests_out(config):
        return

    def is_long(item: pytest.Item) -> bool:
        return any(item.get_closest_marker(marker) for marker in LONG_MARKERS)

    config.hook.pytest_deselected(items=[item for item in items if is_long(item)])
    items[:] = [item for item in items if not is_long(item)]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return write_tiny_checkpoint(tmp_path_factory.mktemp("model") / "tiny.pt")


@pytest.fixture(scope="session")
def _session_runtime_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("runtime-cache")


@pytest.fixture(autouse=True)
def _int8_only_where_asked(monkeypatch):
    # `train` builds a portable int8 model at its end, in a child process, which would take most
    # of the time of most training tests: tests train as where OpenVINO cannot run unless they
    # restore `build_portable_int8` themselves. And the thorough search, when one runs, is
    # exercised, not measured (its budget is tested as is).
    from landmark_tag.runtime import quantize
    from landmark_tag.training import int8

    monkeypatch.setattr(int8, "build_portable_int8", lambda checkpoint, searches: None)
    thorough = quantize.Search("thorough", iterations=2, ranking_photos=4)
    monkeypatch.setattr(quantize, "THOROUGH", thorough)
    monkeypatch.setattr(quantize, "SEARCHES", (quantize.DIRECT, quantize.QUICK, thorough))


@pytest.fixture(autouse=True)
def _isolated_model_home(tmp_path, monkeypatch, _session_runtime_cache):
    # The default model location must never be a real user's model during tests.
    monkeypatch.setenv("LANDMARK_TAG_HOME", str(tmp_path / "landmark-tag-home"))
    # Nor its cache of built OpenVINO models; one for the session, as a user's machine keeps one.
    monkeypatch.setenv("LANDMARK_TAG_CACHE", str(_session_runtime_cache))


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """One line at the end naming what was skipped and why (a missing ../shared, Chromium or
    exiftool), so that a green run never hides what it did not test."""
    reasons: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    if reasons:
        listed = "; ".join(f"{count} x {reason}" for reason, count in sorted(reasons.items()))
        terminalreporter.write_line(f"skipped {sum(reasons.values())}: {listed}")
