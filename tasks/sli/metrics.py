"""Per-sketch measures of stroke location inversion (numpy; each takes one sketch).

A sketch here is its strokes' shapes relative to their start points (a list of ``(n_i, 2)``
arrays, each starting at ``(0, 0)``) plus start locations ``(num_strokes, 2)``; placing the shapes
at the locations gives the drawing's absolute points.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def place(shapes: list[np.ndarray], locations: np.ndarray) -> np.ndarray:
    """``(total_points, 2)`` absolute points of the strokes ``shapes`` started at ``locations``."""
    return np.concatenate([shape + loc for shape, loc in zip(shapes, np.asarray(locations))])


def location_error(recovered: np.ndarray, true: np.ndarray) -> float:
    """Mean distance between recovered and true start points after removing the global
    translation (each set minus its own mean). Zero for a one-stroke sketch."""
    recovered = np.asarray(recovered, dtype=np.float64)
    true = np.asarray(true, dtype=np.float64)
    diff = (recovered - recovered.mean(0)) - (true - true.mean(0))
    return float(np.linalg.norm(diff, axis=1).mean())


def aligned_error(recovered: np.ndarray, true: np.ndarray) -> float:
    """Mean distance between true and recovered start points after the least-squares similarity
    transform (rotation, uniform scale, translation; no mirroring) of the recovered set onto the true
    one (Umeyama, 1991): what is left of the error once size and orientation are forgiven. Zero for
    fewer than three strokes (any two points align exactly)."""
    a = np.asarray(recovered, dtype=np.float64)
    b = np.asarray(true, dtype=np.float64)
    if len(a) < 3:
        return 0.0
    a = a - a.mean(0)
    b = b - b.mean(0)
    u, sing, vt = np.linalg.svd(a.T @ b)
    flip = np.array([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rotation = u @ np.diag(flip) @ vt
    spread = float((a ** 2).sum())
    scale = float((sing * flip).sum()) / spread if spread > 0 else 0.0
    return float(np.linalg.norm(scale * a @ rotation - b, axis=1).mean())


#: A stroke counts as recovered when its start point (translation removed) is within this of the true one.
RECOVERED_WITHIN = 0.05


def strokes_recovered(locations: np.ndarray, true: np.ndarray) -> float:
    """Fraction of the strokes whose start point, after removing the global translation (as
    :func:`location_error`), lies within :data:`RECOVERED_WITHIN` of the true one; NaN for a
    one-stroke sketch (nothing to recover)."""
    a = np.asarray(locations, dtype=np.float64)
    b = np.asarray(true, dtype=np.float64)
    if len(a) < 2:
        return float("nan")
    return float((np.linalg.norm((a - a.mean(0)) - (b - b.mean(0)), axis=1) <= RECOVERED_WITHIN).mean())


#: Start errors at or below this (normalised units; the canvas is 2 wide) leave nothing to recover.
NOTHING_TO_RECOVER = 1e-9


def fidelity(error_before, error_after):
    """``1 - error_after / error_before``: 1 for a perfect recovery, 0 for no progress, negative
    when worse than the start; NaN when there was nothing to recover (``error_before == 0``, e.g.
    a one-stroke sketch, whose only freedom is a translation, or a start at the true layout: errors
    below :data:`NOTHING_TO_RECOVER` are rounding). Floats or arrays (elementwise)."""
    before = np.asarray(error_before, dtype=np.float64)
    out = 1.0 - np.asarray(error_after, dtype=np.float64) / np.where(before > NOTHING_TO_RECOVER, before, np.nan)
    return float(out) if out.ndim == 0 else out


def chamfer(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric Chamfer distance between two point sets: the mean of the two directed mean
    nearest-neighbour distances (absolute coordinates, so a translation counts)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a_to_b = cKDTree(b).query(a)[0].mean()
    b_to_a = cKDTree(a).query(b)[0].mean()
    return float((a_to_b + b_to_a) / 2)


def displacement(moved: np.ndarray, start: np.ndarray) -> float:
    """Mean distance each start point moved (absolute, translation included)."""
    return float(np.linalg.norm(np.asarray(moved, np.float64) - np.asarray(start, np.float64), axis=1).mean())


def first_step(hit_step: int) -> float:
    """A step count from :attr:`tasks.sli.inversion.Inversion.hit_step`, NaN for 'never'."""
    return float(hit_step) if hit_step >= 0 else float("nan")
