"""The model alone on a CPU: what the runtime, precision, malloc settings and threads each do to its speed.

    python -m benchmarks.perf.model_speed [--batch-size 8] [--passes 40] [--repeats 3] [--busy]

Runs EfficientNet-Lite0 (a random 50-class head: speed does not depend on the weights) on one batch
in memory, in a fresh process per measurement, each the median of --repeats runs, interleaved so
that a noisy moment on a shared machine hits every configuration alike:

- PyTorch eager, fp32 and bf16, with glibc's malloc defaults and with the scan's settings
  (landmark_tag.host.allocator), on one thread and on all cores;
- OpenVINO (the scan's default runtime on a CPU), fp32, bf16 and int8, on all cores;
- ONNX Runtime, fp32 and int8, on all cores, where it is installed (`pip install onnxruntime onnx`).

int8 here is every operation quantized (NNCF's default for OpenVINO; static QDQ, per channel, for
ONNX Runtime) on random calibration pixels: the speed of full int8. The scan's int8 keeps the few
operations that change answers most in fp32 (`landmark_tag.runtime.quantize`); `--model` measures
that one too, built from a real checkpoint's calibration photos as the scan builds it.
`--busy` runs a CPU-bound process per core beside every measurement: a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import beside_cpu_bound_work
from landmark_tag.host.device import cpu_has_fast_bf16, onednn_isa_cap

MEASURE = """
import json, resource, sys, time
config = json.loads(sys.argv[1])
from landmark_tag.host.allocator import keep_freed_memory
tuned = keep_freed_memory() if config["settings"] == "scan" else False
import numpy as np, torch
torch.set_num_threads(config["threads"])
batch_size, passes, runtime = config["batch_size"], config["passes"], config["runtime"]
pixels = torch.randn(batch_size, 3, 224, 224)
if runtime == "torch":
    import timm
    from landmark_tag.host.device import resolve_precision
    torch.manual_seed(0)
    model = timm.create_model("tf_efficientnet_lite0", num_classes=50).eval()
    model = model.to(memory_format=torch.channels_last)
    pixels = pixels.contiguous(memory_format=torch.channels_last)
    dtype = resolve_precision(config["precision"], torch.device("cpu"))
    autocast = dict(dtype=dtype or torch.bfloat16, enabled=dtype is not None)
    def forward():
        with torch.inference_mode(), torch.autocast("cpu", **autocast):
            model(pixels)
elif runtime == "openvino":
    from landmark_tag.runtime.openvino_runner import OpenVINORunner
    runner = OpenVINORunner(config["model_file"], config["precision"])
    forward = lambda: runner(pixels)
else:
    import onnxruntime
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = config["threads"]
    session = onnxruntime.InferenceSession(config["model_file"], options, providers=["CPUExecutionProvider"])
    array = pixels.numpy()
    forward = lambda: session.run(None, {"pixels": array})
for _ in range(3):
    forward()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
started = time.perf_counter()
for _ in range(passes):
    forward()
seconds = time.perf_counter() - started
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
print(json.dumps({
    "tuned": tuned,
    "photos_per_s": passes * batch_size / seconds,
    "faults_per_pass": faults / passes,
    # VmHWM, not ru_maxrss, which a process started by fork and exec inherits from its parent.
    "peak_rss_mb": int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024,
}))
"""


def build_models(folder: Path, model_checkpoint: Path | None) -> dict[str, str]:
    """The converted and quantized models the runtime rows load, built once in `folder`."""
    import numpy as np
    import openvino as ov
    import timm
    import torch

    from landmark_tag.model.checkpoint import load_model
    from landmark_tag.runtime.int8_models import int8_model
    from landmark_tag.runtime.openvino_model import LogitsAndFeatures
    from landmark_tag.runtime.quantize import SEARCHES

    torch.manual_seed(0)
    model = LogitsAndFeatures(timm.create_model("tf_efficientnet_lite0", num_classes=50).eval())
    example = torch.zeros(1, 3, 224, 224)
    files = {"openvino_fp32": str(folder / "fp32.xml"), "openvino_int8": str(folder / "int8.xml")}
    converted = ov.convert_model(model, example_input=example, input=[(-1, 3, 224, 224)])
    ov.save_model(converted, files["openvino_fp32"], compress_to_fp16=False)
    calibration = [
        np.random.default_rng(i).normal(size=(1, 3, 224, 224)).astype(np.float32) for i in range(64)
    ]
    import nncf

    ov.save_model(nncf.quantize(converted, nncf.Dataset(calibration), subset_size=64), files["openvino_int8"])
    if model_checkpoint is not None:  # the scan's own int8, from the checkpoint's calibration photos
        os.environ["LANDMARK_TAG_CACHE"] = str(folder / "cache")
        loaded = load_model(model_checkpoint)
        files["scan_int8"] = str(int8_model(loaded, searches=SEARCHES).model_file)
    try:
        import onnxruntime  # noqa: F401
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static
    except ImportError:
        return files
    files["onnx_fp32"], files["onnx_int8"] = str(folder / "fp32.onnx"), str(folder / "int8.onnx")
    torch.onnx.export(model, example, files["onnx_fp32"], input_names=["pixels"],
                      output_names=["logits", "features"], dynamic_axes={"pixels": {0: "batch"}},
                      dynamo=False)  # fmt: skip

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(calibration)

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {"pixels": batch}

    quantize_static(
        files["onnx_fp32"], files["onnx_int8"], Reader(), quant_format=QuantFormat.QDQ, per_channel=True
    )
    return files


def configurations(cores: int, files: dict[str, str]) -> list[dict]:
    configs = [
        {"runtime": "torch", "precision": precision, "threads": threads, "settings": settings}
        for precision in ("fp32", "bf16")
        for threads in sorted({1, cores})
        for settings in ("glibc", "scan")
    ]
    for name, model_file in files.items():
        runtime, precision = name.rsplit("_", 1)
        # OpenVINO's bf16 only where the CPU has it: elsewhere it would run fp32 under another name.
        bf16 = ("bf16",) if name == "openvino_fp32" and cpu_has_fast_bf16() else ()
        for precision_run in (precision, *bf16):
            configs.append(
                {
                    "runtime": "onnx" if runtime == "onnx" else "openvino",
                    "precision": precision_run,
                    "threads": cores,
                    "settings": "scan",
                    "model_file": model_file,
                    "name": name,
                }
            )
    return configs


def label(config: dict) -> str:
    names = {"openvino": "OpenVINO", "onnx": "ONNX Runtime", "torch": "PyTorch eager"}
    text = f"{names[config['runtime']]} {config['precision']}"
    if config.get("name", "").startswith("scan_"):
        text += " (the scan's, from --model)"
    elif config["precision"] == "int8":
        text += " (every operation)"
    return text


def measure(config: dict, batch_size: int, passes: int) -> dict:
    payload = json.dumps({**config, "batch_size": batch_size, "passes": passes})
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, payload], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{label(config)} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--passes", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", type=Path, help="a trained checkpoint: also measure the scan's own int8")
    parser.add_argument("--busy", action="store_true", help="a CPU-bound process per core runs beside")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        files = build_models(Path(tmp), args.model)
        configs = configurations(cores, files)
        runs: list[list[dict]] = [[] for _ in configs]
        with beside_cpu_bound_work(args.busy):
            for _ in range(args.repeats):
                for config, measured in zip(configs, runs, strict=True):
                    measured.append(measure(config, args.batch_size, args.passes))

    def median(i: int, key: str) -> float:
        return statistics.median(run[key] for run in runs[i])

    baseline = {
        c["threads"]: i
        for i, c in enumerate(configs)
        if (c["runtime"], c["precision"], c["settings"]) == ("torch", "fp32", "glibc")
    }
    auto = "bf16" if cpu_has_fast_bf16() else "fp32"
    print(f"EfficientNet-Lite0, batch {args.batch_size}, {cores} cores{', busy' if args.busy else ''}; "
          f"native bf16: {'yes' if auto == 'bf16' else 'no'}"
          f"{f', ONEDNN_MAX_CPU_ISA={onednn_isa_cap()}' if onednn_isa_cap() else ''}\n")  # fmt: skip
    print(
        "runtime and precision | threads | malloc settings | photos/s | page faults per pass | peak RSS "
        "| speed-up"
    )
    print("--- | --- | --- | --- | --- | --- | ---")
    for i, config in enumerate(configs):
        speedup = median(i, "photos_per_s") / median(baseline[config["threads"]], "photos_per_s")
        settings = "glibc defaults" if config["settings"] == "glibc" else "the scan"
        print(
            f"{label(config)} | {config['threads']} | {settings} | {median(i, 'photos_per_s'):.1f} | "
            f"{median(i, 'faults_per_pass'):,.0f} | {median(i, 'peak_rss_mb'):.0f} MB | {speedup:.2f}"
        )
    print("\nspeed-up: against PyTorch eager fp32 with glibc's defaults on as many threads")
    if args.json:
        results = [
            {"config": config, "runs": measured} for config, measured in zip(configs, runs, strict=True)
        ]
        with open(args.json, "w") as handle:
            json.dump(
                {"batch_size": args.batch_size, "cores": cores, "busy": args.busy, "results": results}, handle
            )


if __name__ == "__main__":
    main()
