"""What every command shares: the CLI loads the model stack only when a command needs it."""

import subprocess
import sys

from landmark_tag.cli import training as training_cli
from landmark_tag.training.models import DEFAULT_BACKBONE

HEAVY_MODULES = ("torch", "torchvision", "timm", "matplotlib")


def test_importing_the_cli_does_not_load_torch():
    # `--help`, `report` and the error paths start in a fraction of a second without it.
    code = (
        "import sys; from landmark_tag.cli import app; "
        f"print([name for name in {HEAVY_MODULES!r} if name in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_train_default_backbone_matches_the_library():
    assert training_cli.DEFAULT_BACKBONE == DEFAULT_BACKBONE
