"""The portable int8 model: built once by `train` and carried in the checkpoint, so that a scan
checks it on its own CPU in seconds instead of searching for one (minutes without VNNI).

int8's answers depend on the instructions that compute them, so the search runs in a child process
whose oneDNN is capped at AVX2 (`ONEDNN_MAX_CPU_ISA`) on x86, the CPUs with the least exact int8:
there `quantize` keeps every layer's weights in 7 bits, so that AVX2's 16-bit sums cannot saturate.
On wonders7 the model found this way gave the same answers under AVX2 and AVX512-VNNI and passed
its check on AMX as well (docs/benchmarks.md, "Without native bf16"). Scans still check it before running it,
and search for their own when it fails there (`int8_models`).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from landmark_tag.model.checkpoint import PortableInt8
from landmark_tag.runtime.cache import MODEL_FILE, WEIGHTS_FILE
from landmark_tag.runtime.quantize import Search

logger = logging.getLogger(__name__)
LOG_SEPARATOR = "\t|\t"  # between the child's logger name and its message

PORTABLE_ISA = "AVX2"
DETAILS_FILE = "details.json"
UNAVAILABLE_EXIT = 3  # the child's exit status when OpenVINO or NNCF cannot run here


def build_portable_int8(checkpoint: Path, searches: Sequence[Search]) -> PortableInt8 | None:
    """Search for the int8 model of `checkpoint` as `int8_models` does, under AVX2 on x86, in a
    child process (which also keeps the search's memory out of training's). Its log lines are
    passed on as this module's. None, with a warning, when the child could not build one."""
    env = dict(os.environ)
    if platform.machine().lower() in ("x86_64", "amd64"):
        env["ONEDNN_MAX_CPU_ISA"] = PORTABLE_ISA
    with tempfile.TemporaryDirectory(prefix="landmark-tag-int8-") as folder:
        command = [
            sys.executable,
            "-m",
            "landmark_tag.runtime.portable_int8",
            str(checkpoint),
            folder,
            json.dumps([asdict(search) for search in searches]),
        ]
        errors_file = Path(folder) / "stderr.txt"
        with open(errors_file, "w") as errors:
            child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True, env=env)
            assert child.stdout is not None
            for line in child.stdout:
                # The search's own steps are progress; NNCF's and OpenVINO's (about 150 lines of
                # "Reverted 1 operations ...") are for -v.
                source, _, message = line.rstrip().partition(LOG_SEPARATOR)
                if not message:
                    source, message = "", source
                log = logger.info if source.startswith("landmark_tag") else logger.debug
                log("%s", message)
            status = child.wait()
        if status != 0:
            lines = [line for line in errors_file.read_text(errors="replace").splitlines() if line.strip()]
            reason = lines[-1] if lines else f"exit status {status}"
            logger.warning("no portable int8 model was built: %s", reason)
            return None
        built = Path(folder)
        return PortableInt8(
            (built / MODEL_FILE).read_bytes(),
            (built / WEIGHTS_FILE).read_bytes(),
            json.loads((built / DETAILS_FILE).read_text()),
        )


def _build_here(checkpoint: str, out: Path, searches: list[Search]) -> None:
    from landmark_tag.host.device import onednn_isa_cap
    from landmark_tag.model.checkpoint import load_model
    from landmark_tag.runtime.int8_models import int8_model
    from landmark_tag.runtime.openvino_model import import_openvino

    started = time.monotonic()
    loaded = load_model(checkpoint)
    loaded.portable_int8 = None  # searched afresh, not read from an earlier `train`'s
    with tempfile.TemporaryDirectory(prefix="cache-", dir=out) as cache:
        int8 = int8_model(loaded, Path(cache), searches, log_steps=True)
        for name in (MODEL_FILE, WEIGHTS_FILE):
            shutil.copyfile(int8.entry.path / name, out / name)
    details = {
        "search": int8.source,
        "check": int8.check.to_dict(),
        "isa": onednn_isa_cap() or f"native ({platform.machine()})",
        "openvino": import_openvino().get_version(),
        "seconds": round(time.monotonic() - started, 2),
    }
    (out / DETAILS_FILE).write_text(json.dumps(details, indent=1))


def main(argv: list[str]) -> int:
    from landmark_tag.runtime.openvino_model import RuntimeUnavailable

    checkpoint, out, searches = argv
    logging.basicConfig(
        level=logging.INFO, format=f"%(name)s{LOG_SEPARATOR}%(message)s", stream=sys.stdout, force=True
    )
    try:
        _build_here(checkpoint, Path(out), [Search(**search) for search in json.loads(searches)])
    except RuntimeUnavailable as exc:
        print(exc, file=sys.stderr)
        return UNAVAILABLE_EXIT
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
