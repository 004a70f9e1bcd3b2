"""Ray for the scan: importing it, joining a cluster or starting a local instance, and the model
actors asked of it. Every way this can fail is said in one line, within seconds: a missing Ray, an
address where nothing answers, more actors than the machine or the cluster can hold."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from landmark_tag.errors import ConfigError, LandmarkTagError
from landmark_tag.host.process import default_threads
from landmark_tag.pipeline.resolve import ResolvedScan

# The same as `pip install '.[ray]'` in landmark-tag's source folder.
RAY_INSTALL = "pip install 'ray[data,client]>=2.50,<3'"
# How long joining a cluster waits for its address to answer (Ray itself would retry for ever).
CONNECT_TIMEOUT_SECONDS = 10.0


class RayClusterError(LandmarkTagError):
    """The Ray cluster cannot be reached, or cannot do what the scan needs of it."""


def import_ray():
    """Ray, or a one-line error that says how to install it."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise ConfigError(
            f"the Ray engine (--engine ray) needs Ray, which is not installed: {RAY_INSTALL}"
        ) from None
    return ray


@dataclass
class ClusterShape:
    """The model actors the scan asks the cluster for."""

    actors: int
    device: str  # cpu or cuda
    threads: int | None  # per actor; None on GPUs
    cpus_per_actor: float
    gpus_per_actor: int = 0


def cluster_shape(ray, config: ResolvedScan, cores: int | None = None) -> ClusterShape:
    """One actor per GPU where the cluster has GPUs (and the device allows); else one CPU actor per
    node, with half of `cores` (default: the smallest node's CPUs) as threads. --actors and
    --threads override; a shape that leaves no CPU to decode photos on is refused."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    if config.device.startswith("cuda") and gpus == 0:
        raise ConfigError("the cuda device (--device cuda) was asked for, but the Ray cluster has no GPU")
    if gpus and config.device != "cpu":
        shape = ClusterShape(config.given.actors or gpus, "cuda", config.threads, 1, 1)
        if shape.actors > gpus:  # Ray would wait for ever for GPUs that are not there
            raise ConfigError(
                f"{shape.actors} model actors (--actors) need a GPU each, but the Ray cluster has {gpus}"
            )
    else:
        nodes = [node for node in ray.nodes() if node.get("Alive")]
        cores = cores or min((int(node["Resources"].get("CPU", 1)) for node in nodes), default=1)
        threads = config.threads or default_threads(torch.device("cpu"), cores)
        shape = ClusterShape(config.given.actors or max(1, len(nodes)), "cpu", threads, threads)
    cpus = resources.get("CPU", 0)
    if cpus - shape.actors * shape.cpus_per_actor < 1:
        raise ConfigError(
            f"{shape.actors} model actor(s) taking {shape.cpus_per_actor:g} CPU(s) each would take all "
            f"{cpus:g} CPUs of the Ray cluster and leave none to decode photos on: ask for fewer "
            "(--actors, --threads)"
        )
    return shape


@contextlib.contextmanager
def ray_session(ray, config: ResolvedScan) -> Iterator[tuple[str, bool]]:
    """Ray for the scan: the instance this process is already connected to, a cluster at
    `config.given.ray_address`, or a local instance that lives as long as the scan. Yields its address,
    and whether it is the scan's own local instance."""
    if ray.is_initialized():
        yield ray.get_runtime_context().gcs_address, False
        return
    if config.given.ray_address is None:
        # As the local engine: every core decodes, beside the model's threads.
        cores, actors = os.cpu_count() or 1, config.given.actors or 1
        if actors > cores:  # each actor is a process with a model: more than cores only drain memory
            raise ConfigError(
                f"{actors} model actors (--actors) on a local Ray instance, but this machine has {cores} "
                f"CPU cores: ask for at most {cores}"
            )
        threads = config.threads or default_threads(torch.device("cpu"))
        # "local": always an instance of its own, even where RAY_ADDRESS is set or a crashed Ray left
        # /tmp/ray/ray_current_cluster behind (Ray would otherwise try to join that).
        options: dict[str, Any] = {
            "address": "local",
            "num_cpus": cores + actors * threads,
            "include_dashboard": False,
        }
    else:
        check_reachable(config.given.ray_address)
        options = {"address": config.given.ray_address}
    # Ray's C++ core logs straight to the terminal ("core_worker.cc ... E ... has constructor
    # arguments in the object store"): this driver's own, and a local instance's processes'. The
    # scan reports what went wrong itself. A user's own setting wins.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        # ERROR: a local instance's start-up notices (its auth token, say) mean nothing to a scan.
        ray.init(
            logging_level=logging.ERROR if config.given.ray_address is None else logging.WARNING, **options
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = config.given.ray_address or "a local Ray instance"
        raise RayClusterError(f"cannot start or join Ray at {where}: {exc}") from None
    # Ray's driver installs a handler that aborts the process on SIGTERM; the scan's own (commit what
    # is done, exit 143, as with the local engine) must stay in charge.
    if sigterm is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, sigterm)
    try:
        yield ray.get_runtime_context().gcs_address, config.given.ray_address is None
    finally:
        ray.shutdown()


def check_reachable(address: str) -> None:
    """Refuse, within CONNECT_TIMEOUT_SECONDS, an address where nothing answers: Ray would retry it
    for ever (HOST:PORT) or for half a minute (ray://)."""
    if address in ("auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(
            f"ray_address (--ray-address) {address!r} is not an address: use auto, HOST:6379 on a node of "
            "the cluster, or ray://HOST:10001 from elsewhere"
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_SECONDS).close()
    except OSError as exc:
        reason = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise RayClusterError(
            f"cannot reach the Ray cluster at {address} ({reason} within {CONNECT_TIMEOUT_SECONDS:g} s): "
            "is it running, and is that its address? A cluster is joined at HOST:6379 from one of its "
            "nodes, or at ray://HOST:10001 (Ray Client) from elsewhere"
        ) from None
