"""Engines by name, as `--engine` chooses them: `local` (this machine) or `ray` (Ray Data)."""

from __future__ import annotations

from collections.abc import Callable

from landmark_tag.errors import ConfigError
from landmark_tag.model.checkpoint import LoadedModel
from landmark_tag.pipeline.config import ENGINES
from landmark_tag.pipeline.engines.base import Engine
from landmark_tag.pipeline.resolve import ResolvedScan

EngineFactory = Callable[[ResolvedScan, LoadedModel | None], Engine]  # None: no landmark model


def engine_named(name: str) -> EngineFactory:
    """The engine called `name`; the Ray engine imports Ray here, so a missing Ray is said before
    the model loads."""
    if name == "local":
        from landmark_tag.pipeline.engines.local import LocalEngine

        return LocalEngine
    if name == "ray":
        from landmark_tag.pipeline.engines.ray_cluster import import_ray

        import_ray()
        from landmark_tag.pipeline.engines.ray_engine import RayEngine

        return RayEngine
    raise ConfigError(f"unknown engine {name!r} (--engine): use {' or '.join(ENGINES)}")
