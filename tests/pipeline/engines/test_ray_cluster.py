"""Joining Ray fails fast and in one line: these checks run before Ray starts, so they need no
cluster (only Ray installed)."""

import socket
import time
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from landmark_tag.cli import app
from landmark_tag.errors import ConfigError
from landmark_tag.pipeline.config import ScanConfig
from landmark_tag.pipeline.engines.ray_cluster import (
    ClusterShape,
    RayClusterError,
    check_reachable,
    cluster_shape,
    ray_session,
)
from tests.helpers import save_photo, scene

ray = pytest.importorskip("ray", reason="needs Ray (pip install '.[ray]')")


def ray_scan(**options):
    """What the Ray session reads of a resolved scan: the options given, and the threads (which a
    Ray scan leaves to each node)."""
    given = ScanConfig(["x"], "o.parquet", engine="ray", **options)
    return SimpleNamespace(given=given, threads=given.threads, device=given.device)


def closed_port() -> int:
    with socket.socket() as probe:  # bound, then released: nothing listens there now
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_an_address_where_nothing_answers_fails_within_seconds(scheme):
    address = f"{scheme}127.0.0.1:{closed_port()}"
    started = time.monotonic()
    config = ray_scan(ray_address=address)
    with (
        pytest.raises(RayClusterError, match=f"cannot reach the Ray cluster at {address}"),
        ray_session(ray, config),
    ):
        pass
    assert time.monotonic() - started < 5 and not ray.is_initialized()


def test_a_listening_address_passes_and_a_malformed_one_is_refused():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        check_reachable(f"ray://127.0.0.1:{server.getsockname()[1]}")
    check_reachable("auto")
    with pytest.raises(ConfigError, match="not an address"):
        check_reachable("head-node")


def test_more_local_actors_than_cores_are_refused_before_ray_starts(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    config = ray_scan(actors=1000)
    with pytest.raises(ConfigError, match=r"1000 model actors .* at most 2"), ray_session(ray, config):
        pass
    assert not ray.is_initialized()


class FakeCluster:
    def __init__(self, cpus: int, gpus: int = 0) -> None:
        self.resources = {"CPU": cpus, "GPU": gpus}

    def cluster_resources(self):
        return self.resources

    def nodes(self):
        return [{"Alive": True, "Resources": self.resources}]


def test_actors_are_bounded_by_the_clusters_gpus_and_cpus():
    with pytest.raises(ConfigError, match="need a GPU each, but the Ray cluster has 2"):
        cluster_shape(FakeCluster(16, gpus=2), ray_scan(actors=3))
    with pytest.raises(ConfigError, match="leave none to decode"):
        cluster_shape(FakeCluster(4), ray_scan(actors=4, threads=1))
    shape = cluster_shape(FakeCluster(16, gpus=2), ray_scan())
    assert shape == ClusterShape(2, "cuda", None, 1, 1)


def test_the_command_says_so_in_one_line(tmp_path, tiny_model):
    address = f"127.0.0.1:{closed_port()}"
    save_photo(tmp_path / "a.jpg", scene())
    args = ["scan", str(tmp_path), "-m", str(tiny_model), "-o", str(tmp_path / "t.parquet")]
    result = CliRunner().invoke(app, [*args, "--engine", "ray", "--ray-address", address])
    assert result.exit_code == 1 and "cannot reach the Ray cluster" in result.output
    assert "Traceback" not in result.output


@pytest.mark.ray
def test_the_scans_own_instance_joins_no_cluster_named_elsewhere(monkeypatch):
    # What a crashed Ray (its /tmp/ray/ray_current_cluster) or a stale shell (RAY_ADDRESS) names.
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{closed_port()}")
    config = ray_scan(actors=1)
    with ray_session(ray, config) as (_, own_instance):
        assert own_instance and ray.is_initialized()
    assert not ray.is_initialized()
