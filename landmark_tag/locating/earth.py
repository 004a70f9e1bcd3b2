"""Distances on the Earth, near enough for radii and scales: a sphere of the mean radius."""

from __future__ import annotations

import numpy as np

# A degree of latitude (and of longitude at the equator), in metres: near enough for radii and scales.
METRES_PER_DEGREE = 111_320.0


def distance_m(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6_371_000.0 * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
