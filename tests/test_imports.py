"""The package's import graph: no circles, and imports run one way (ARCHITECTURE.md): the shared
parts import none of the stages' packages; pipeline, training and report import the shared parts,
not each other; only cli imports everything. Every import counts, those inside functions and under
TYPE_CHECKING too."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "landmark_tag"
STAGES = ("pipeline", "training", "report")
# Where one stage package may import another, and why.
ALLOWED_ACROSS: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.add(node.module)
                targets |= {f"{node.module}.{alias.name}" for alias in node.names}
        graph[name] = {t for t in targets if t in modules and t != name and t != "landmark_tag"}
    return graph


def area(module: str) -> str:
    """'cli', a stage ('pipeline', 'training', 'report'), or 'shared' (the rest, runtime/ included)."""
    parts = module.split(".")
    if module in ("landmark_tag.__main__", "landmark_tag"):  # the command line's entry; the API's front door
        return "cli"
    return parts[1] if len(parts) > 1 and parts[1] in ("cli", *STAGES) else "shared"


def test_no_import_circles():
    graph = import_graph()
    visiting, done, circles = [], set(), []

    def visit(module: str) -> None:
        if module in visiting:
            circles.append([*visiting[visiting.index(module) :], module])
            return
        if module in done:
            return
        visiting.append(module)
        for target in sorted(graph[module]):
            visit(target)
        visiting.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
    assert not circles, "\n".join(" -> ".join(circle) for circle in circles)


def test_imports_run_one_way():
    wrong = []
    for module, targets in import_graph().items():
        for target in targets:
            source, destination = area(module), area(target)
            if source == destination or destination == "shared" or source == "cli":
                continue
            if source in STAGES and (source, target) in ALLOWED_ACROSS:
                continue
            if module == "landmark_tag.figure" and destination == "pipeline":
                continue  # `predict --show` draws the pipeline's ImagePrediction
            wrong.append(f"{module} ({source}) imports {target} ({destination})")
    assert not wrong, "\n".join(sorted(wrong))


# The scan's layers in the order a scan runs them: a module imports only from its own layer or
# earlier ones. The vocabulary every step speaks comes first (the options, the output, the shard, the
# journal of committed parts, the rule that judges a prediction).
PIPELINE_LAYERS = [
    ("config", "target", "shards", "journal", "judge"),
    ("resolve", "inference"),
    ("plan",),
    ("execute",),
    ("engines",),
    ("commit",),
    ("scan",),
]


def pipeline_layer(module: str) -> int | None:
    inside = module.removeprefix("landmark_tag.pipeline.")
    if inside == module or inside == "landmark_tag.pipeline":
        return None
    for number, prefixes in enumerate(PIPELINE_LAYERS):
        if any(inside == prefix or inside.startswith(prefix + ".") for prefix in prefixes):
            return number
    raise AssertionError(f"{module} is in no layer of PIPELINE_LAYERS: add it")


def test_the_scans_steps_import_downwards_only():
    upward = []
    for module, targets in import_graph().items():
        source = pipeline_layer(module)
        for target in targets:
            destination = pipeline_layer(target)
            if source is not None and destination is not None and destination > source:
                upward.append(f"{module} imports {target}")
    assert not upward, "\n".join(sorted(upward))


# What each shared part may not import: the model contract no runtime, pipeline or training; files no
# model (and nothing above them); locating no pipeline (the pipeline calls it, never the other way).
STAGE_PACKAGES = tuple(f"landmark_tag.{stage}" for stage in (*STAGES, "cli"))
FORBIDDEN = {
    "landmark_tag.model": ("landmark_tag.runtime", *STAGE_PACKAGES),
    "landmark_tag.files": (
        "landmark_tag.model",
        "landmark_tag.runtime",
        "landmark_tag.host",
        *STAGE_PACKAGES,
    ),
    "landmark_tag.locating": ("landmark_tag.runtime", "landmark_tag.model.checkpoint", *STAGE_PACKAGES),
}


def test_the_shared_parts_import_only_what_lies_below_them():
    wrong = [
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        for part, forbidden in FORBIDDEN.items()
        if module == part or module.startswith(part + ".")
        for target in targets
        if target.startswith(forbidden)
    ]
    assert not wrong, "\n".join(sorted(wrong))


def test_the_python_api_is_importable_from_the_package_and_loads_on_first_use():
    import subprocess
    import sys

    script = (
        "import sys, landmark_tag\n"
        "assert 'torch' not in sys.modules and 'pyarrow' not in sys.modules\n"
        "from landmark_tag import ScanConfig, ScanSummary, predict_landmarks, read_results, scan\n"
        "from landmark_tag.pipeline.scan import scan as inner\n"
        "assert scan is inner and ScanConfig.__name__ == 'ScanConfig'\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_only_storage_tells_a_folder_from_a_bucket():
    """Every local-versus-URL decision is made in files/storage.py: the others open, list, publish
    and remove through it (and ask `on_disk` where their way of working differs)."""
    deciding = []
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).as_posix() == "files/storage.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fsspec"):
                deciding.append(f"{path.name} imports fsspec")
            if isinstance(node, ast.Import) and any(a.name.startswith("fsspec") for a in node.names):
                deciding.append(f"{path.name} imports fsspec")
            if isinstance(node, ast.ImportFrom) and node.module == "landmark_tag.files.storage":
                deciding += [
                    f"{path.name} uses {a.name}" for a in node.names if a.name in ("is_url", "local_path")
                ]
    assert not deciding, "\n".join(sorted(deciding))
