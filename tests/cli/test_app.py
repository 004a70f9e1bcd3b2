"""What every command shares: the CLI loads the model stack only when a command needs it."""

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from landmark_tag.cli import app

HEAVY_MODULES = ("torch", "torchvision", "timm", "matplotlib")


def test_importing_the_cli_does_not_load_torch():
    # `--help`, `report` and the error paths start in a fraction of a second without it.
    code = (
        "import sys; from landmark_tag.cli import app; "
        f"print([name for name in {HEAVY_MODULES!r} if name in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "args",
    [
        ["scan", ".", "--precision", "fp16"],
        ["scan", ".", "--format", "xls"],
        ["scan", ".", "--device", "tpu"],
        ["predict", "a.jpg", "--device", "gpu"],
        ["report", "tags.parquet", "--format", "xls"],
        ["evaluate", "-m", "m.pt", "--data", ".", "--device", "cuda:x"],
        ["train", "transfer", "--device", "gpu"],
        ["train", "bogus"],
    ],
)
def test_bad_option_values_are_usage_errors(args):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Invalid value" in result.output and "Traceback" not in result.output


def test_version_is_the_packages():
    from importlib.metadata import version

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"landmark-tag {version('landmark-tag')}"


def test_os_failures_read_as_a_sentence_naming_the_file():
    import errno

    from landmark_tag.cli.app import describe_os_failure

    missing = FileNotFoundError(errno.ENOENT, "No such file or directory", "/proc/x.parquet.lock")
    assert describe_os_failure(missing) == "No such file or directory: /proc/x.parquet.lock"
    full = OSError(errno.ENOSPC, "No space left on device")
    assert describe_os_failure(full, "tags.parquet") == "No space left on device (while writing tags.parquet)"
    ours = FileNotFoundError("nothing to resume: no m.last.pt from an interrupted run")
    assert describe_os_failure(ours) == "nothing to resume: no m.last.pt from an interrupted run"


def test_an_unusable_output_is_one_line_naming_it(tmp_path, tiny_model):
    photo = tmp_path / "a.jpg"
    from tests.helpers import save_photo

    save_photo(photo)
    result = CliRunner().invoke(
        app, ["scan", str(photo), "-m", str(tiny_model), "-o", "/proc/nope/x.parquet"]
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("error:") and "/proc/nope" in last_line
    assert "[Errno" not in result.stderr


@pytest.mark.parametrize("command", [[], ["scan"], ["predict"], ["train"], ["evaluate"], ["report"]])
def test_help_reads_like_a_click_cli(command):
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0
    assert "<bool>" not in result.output  # flags take no value
    assert "{inputs}" not in result.output and "{images}" not in result.output  # arguments have names


def test_the_progress_rate_is_photos_over_the_time_since_the_start():
    # A rate over the last updates read 4,857 photos/s when a Ray scan's shards all landed at once.
    from rich.progress import Progress

    from landmark_tag.cli.progress import _RateColumn

    progress = Progress()
    task_id = progress.add_task("scan", total=70)
    task = progress.tasks[0]
    task.start_time = task.start_time - 20  # 20 s of start-up with nothing done
    progress.advance(task_id, 70)
    assert _RateColumn().render(task).plain == "3.5 photos/s"
