"""Pictures of stroke location inversion: static and animated SVG per sketch, an HTML gallery.

Coordinates are the sketches' normalised units (y down, as QuickDraw) scaled by 1000 and rounded
to integers, so paths are short and exact. Every picture shows the same square (:data:`VIEW`, the
canvas and a margin), so drawings keep their size; a stroke reaching beyond it is cut off and
marked by a triangle on the edge pointing toward it. Strokes are coloured by drawing order (first blue, last
red) and their start points drawn as dots. The animation moves every stroke along the recorded
optimisation steps with SMIL ``<animate>`` on the path data (browsers play it inside ``<img>``).
All text (titles, category names, anything a plugin provides) is escaped.
"""

from __future__ import annotations

import colorsys
import html
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmark.records import atomic_write_text

SCALE = 1000
#: Seconds per animation frame, and how many extra copies of the last frame hold the result.
FRAME_S = 0.1
HOLD_FRAMES = 10
SIZE_PX = 180


@dataclass
class SketchPicture:
    """What the gallery shows of one sketch.

    ``shapes``: strokes relative to their start points (each ``(n_i, 2)`` from ``(0, 0)``);
    ``original``: true start points ``(n, 2)``; ``trajectory``: ``(frames, n, 2)`` start points
    over the optimisation (first = where it started, last = the result); ``p_target``: the
    target-class probability at every step (charted when given); ``title`` and ``facts`` are
    plain text.
    """

    index: int
    title: str
    shapes: list[np.ndarray]
    original: np.ndarray
    trajectory: np.ndarray
    facts: list[str] = field(default_factory=list)
    p_target: np.ndarray | None = None


def stroke_colours(n: int) -> list[str]:
    """``n`` hex colours from blue (first stroke) to red (last)."""
    out = []
    for i in range(n):
        r, g, b = colorsys.hsv_to_rgb(0.66 * (1 - i / max(n - 1, 1)), 0.85, 0.8)
        out.append(f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}")
    return out


def _ints(points: np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(points, dtype=np.float64) * SCALE).astype(np.int64)


def _path(shape: np.ndarray, start: np.ndarray) -> str:
    """Path data: an absolute move to the start point, then relative line segments."""
    pts = _ints(np.asarray(shape) + start)
    d = f"M{pts[0, 0]} {pts[0, 1]}l"
    steps = np.diff(pts, axis=0) if len(pts) > 1 else np.zeros((1, 2), np.int64)
    return d + " ".join(f"{dx} {dy}" for dx, dy in steps)


#: Half the side of what every picture shows (normalised units): the canvas ``[-1, 1]^2`` and a margin,
#: the same for every panel, so drawings keep their size; strokes beyond it are cut off and marked.
VIEW_HALF = 1.1
#: ``(x, y, width, height)`` of every picture, in scaled units.
VIEW = (-round(VIEW_HALF * SCALE), -round(VIEW_HALF * SCALE), round(2 * VIEW_HALF * SCALE),
        round(2 * VIEW_HALF * SCALE))


def off_canvas(shapes: list[np.ndarray], locations: np.ndarray) -> list[int]:
    """Indices of the strokes with a point outside the picture's view."""
    return [s for s, (shape, loc) in enumerate(zip(shapes, locations))
            if np.abs(np.asarray(shape) + loc).max(initial=0) > VIEW_HALF]


def _off_canvas_marks(shapes: list[np.ndarray], locations: np.ndarray, colours: list[str], view,
                      words: bool = True) -> list[str]:
    """For each stroke reaching beyond the view, a triangle in its colour on the view's edge, pointing
    toward the stroke's point furthest out, and (``words``) their count along the bottom edge."""
    away = off_canvas(shapes, locations)
    if not away:
        return []
    x, y, w, h = view
    size = w // 40
    edge = VIEW_HALF * SCALE - size
    out = []
    for s in away:
        points = (np.asarray(shapes[s], dtype=np.float64) + locations[s]) * SCALE
        far = points[np.abs(points).max(1).argmax()]  # the stroke's point furthest out
        direction = far / np.abs(far).max()
        tip = direction * edge
        ux, uy = direction / max(np.hypot(*direction), 1e-9)
        base = tip - 1.8 * size * np.array([ux, uy])
        left, right = base + size * np.array([-uy, ux]), base - size * np.array([-uy, ux])
        out.append(f'<path d="M{tip[0]:.0f} {tip[1]:.0f}L{left[0]:.0f} {left[1]:.0f}L{right[0]:.0f} {right[1]:.0f}Z" '
                   f'fill="{colours[s]}" stroke="#000000" stroke-width="{max(w // 600, 1)}"/>')
    if words:
        text = f"{len(away)} stroke{'s' if len(away) > 1 else ''} off canvas"
        out.append(f'<text x="{x + w // 2}" y="{y + h - h // 14}" font-size="{w // 18}" font-family="sans-serif" '
                   f'text-anchor="middle" fill="#b00000" stroke="none">{text}</text>')
    return out


def _header(view: tuple[int, ...], title: str) -> list[str]:
    x, y, w, h = view
    return [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{x} {y} {w} {h}" width="{SIZE_PX}" '
            f'height="{SIZE_PX}">',
            f"<title>{html.escape(title)}</title>",
            f'<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="#ffffff"/>',
            f'<rect x="-1000" y="-1000" width="2000" height="2000" fill="none" stroke="#e4e4e4" '
            f'stroke-width="{w // 200}"/>',
            f'<g fill="none" stroke-width="{max(w // 110, 1)}" stroke-linecap="round" stroke-linejoin="round">']


def _strokes(shapes: list[np.ndarray], locations: np.ndarray, view: tuple[int, ...], words: bool = True) -> list[str]:
    """Paths, start dots and off-canvas marks of the strokes ``shapes`` started at ``locations``."""
    colours = stroke_colours(len(shapes))
    dot = max(view[2] // 90, 1)
    lines = [f'<path d="{_path(shape, loc)}" stroke="{colour}"/>' for shape, loc, colour in zip(shapes, locations, colours)]
    lines += [f'<circle cx="{loc[0]}" cy="{loc[1]}" r="{dot}" fill="{colour}" stroke="none"/>'
              for loc, colour in zip(_ints(locations), colours)]
    return lines + _off_canvas_marks(shapes, locations, colours, view, words)


def sketch_svg(shapes: list[np.ndarray], locations: np.ndarray, view: tuple[int, ...], title: str) -> str:
    """A static SVG of the strokes ``shapes`` started at ``locations``."""
    lines = _header(view, title) + _strokes(shapes, locations, view) + ["</g>", "</svg>"]
    return "\n".join(lines) + "\n"


#: A thumbnail strip: panels of this many pixels, at most this many sketches.
THUMB_PX, THUMB_SKETCHES = 100, 3


def thumbnail_strip(pictures: list[SketchPicture], show_start: bool, title: str) -> str:
    """One small SVG (``<= 720 x 120`` px) of the first :data:`THUMB_SKETCHES` pictures: each as its
    start (recovery) or original (transfer) layout, an arrow, and its result, on the fixed canvas,
    captioned with the picture's title."""
    pictures = pictures[:THUMB_SKETCHES]
    gap, arrow, caption = 14, 18, 18
    pair = 2 * THUMB_PX + arrow
    width = max(len(pictures) * pair + (len(pictures) - 1) * gap, 1)
    height = THUMB_PX + caption
    x0, y0, w, h = VIEW
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
             f"<title>{html.escape(title)}</title>", f'<rect width="{width}" height="{height}" fill="#ffffff"/>']
    for i, picture in enumerate(pictures):
        left = i * (pair + gap)
        traj = np.asarray(picture.trajectory, dtype=np.float64)
        before = traj[0] if show_start else np.asarray(picture.original, dtype=np.float64)
        for j, locations in enumerate((before, traj[-1])):
            px = left + j * (THUMB_PX + arrow)
            parts.append(f'<svg x="{px}" y="0" width="{THUMB_PX}" height="{THUMB_PX}" viewBox="{x0} {y0} {w} {h}">'
                         f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="#ffffff" stroke="#cccccc" '
                         f'stroke-width="{w // 100}"/><g fill="none" stroke-width="{max(w // 80, 1)}" '
                         f'stroke-linecap="round" stroke-linejoin="round">')
            parts += _strokes(picture.shapes, locations, VIEW, words=False)
            parts.append("</g></svg>")
        ax = left + THUMB_PX + 3
        parts.append(f'<path d="M{ax} {THUMB_PX // 2}h{arrow - 6}m-5 -4l5 4l-5 4" fill="none" stroke="#666666" '
                     f'stroke-width="1.5"/>')
        parts.append(f'<text x="{left + pair / 2:.0f}" y="{THUMB_PX + 13}" font-size="11" font-family="sans-serif" '
                     f'text-anchor="middle" fill="#333333">{html.escape(_short(picture.title, 40))}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _short(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def target_probability_curve(p_target: np.ndarray, seed: int, title: str, y_label: str) -> dict:
    """The record curve ``sli_target_probability``: the mean over sketches of the target-class
    probability at every step (``p_target``: ``(sketches, steps + 1)``) with a seeded 95%
    bootstrap interval of the mean (:func:`benchmark.stats.mean`)."""
    from benchmark.stats import mean

    p_target = np.asarray(p_target, dtype=np.float64).reshape(len(p_target), -1)
    values = [mean(p_target[:, step], seed=seed, resamples=1000) for step in range(p_target.shape[1])]
    return {"x": [float(step) for step in range(p_target.shape[1])], "y": [v.value for v in values],
            "lo": [v.value if v.ci_low is None else v.ci_low for v in values],
            "hi": [v.value if v.ci_high is None else v.ci_high for v in values],
            "x_label": "SLI step", "y_label": y_label, "title": title}


def animation_svg(shapes: list[np.ndarray], frames: np.ndarray, view: tuple[int, ...], title: str) -> str:
    """An animated SVG: every stroke follows its start point through ``frames`` ``(F, n, 2)``,
    then holds the result for a moment and loops; a bar at the bottom shows progress."""
    frames = np.concatenate([frames, np.repeat(frames[-1:], HOLD_FRAMES, axis=0)])
    dur = f"{len(frames) * FRAME_S:.2f}s"
    colours = stroke_colours(len(shapes))
    dot = max(view[2] // 90, 1)
    x, y, w, h = view
    lines = _header(view, title)
    for s, (shape, colour) in enumerate(zip(shapes, colours)):
        values = ";".join(_path(shape, frame[s]) for frame in frames)
        lines.append(f'<path d="{_path(shape, frames[0, s])}" stroke="{colour}">'
                     f'<animate attributeName="d" values="{values}" dur="{dur}" repeatCount="indefinite"/></path>')
    for s, colour in enumerate(colours):
        pts = _ints(frames[:, s])
        cx, cy = ";".join(str(v) for v in pts[:, 0]), ";".join(str(v) for v in pts[:, 1])
        lines.append(f'<circle cx="{pts[0, 0]}" cy="{pts[0, 1]}" r="{dot}" fill="{colour}" stroke="none">'
                     f'<animate attributeName="cx" values="{cx}" dur="{dur}" repeatCount="indefinite"/>'
                     f'<animate attributeName="cy" values="{cy}" dur="{dur}" repeatCount="indefinite"/></circle>')
    lines.append("</g>")
    bar_h = max(h // 60, 1)
    lines.append(f'<rect x="{x}" y="{y + h - bar_h}" width="0" height="{bar_h}" fill="#888888">'
                 f'<animate attributeName="width" values="0;{w};{w}" keyTimes="0;{1 - HOLD_FRAMES / len(frames):.4f};1" '
                 f'dur="{dur}" repeatCount="indefinite"/></rect>')
    lines.append("</svg>")
    return "\n".join(lines) + "\n"


def probability_svg(p: np.ndarray, title: str) -> str:
    """A line chart of the target-class probability over the steps (0 to 1)."""
    p = np.asarray(p, dtype=np.float64)
    left, right, top, bottom = 28, 192, 10, 100
    xs = left + (right - left) * np.arange(len(p)) / max(len(p) - 1, 1)
    ys = bottom - (bottom - top) * np.clip(p, 0, 1)
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 120" width="{SIZE_PX}" height="{SIZE_PX * 120 // 200}">',
        f"<title>{html.escape(title)}</title>",
        '<rect x="0" y="0" width="200" height="120" fill="#ffffff"/>',
        f'<path d="M{left} {top}V{bottom}H{right}" fill="none" stroke="#999999" stroke-width="1"/>',
        f'<path d="M{left} {(top + bottom) / 2}H{right}" fill="none" stroke="#e4e4e4" stroke-width="1"/>',
        f'<text x="{left - 4}" y="{top + 4}" font-size="10" text-anchor="end">1</text>',
        f'<text x="{left - 4}" y="{bottom + 4}" font-size="10" text-anchor="end">0</text>',
        f'<text x="{right}" y="{bottom + 14}" font-size="10" text-anchor="end">step {len(p) - 1}</text>',
        f'<polyline points="{points}" fill="none" stroke="#d62728" stroke-width="1.5"/>',
        "</svg>"]) + "\n"


def _frame_subset(num: int, wanted: int) -> np.ndarray:
    """At most ``wanted`` evenly spaced frame indices out of ``num``, first and last included."""
    return np.unique(np.rint(np.linspace(0, num - 1, max(min(wanted, num), 2))).astype(int))


def write_pictures(folder: Path, picture: SketchPicture, show_start: bool, animation_frames: int) -> dict[str, str]:
    """Write one sketch's SVGs into ``folder``; returns ``{view: file name}``."""
    traj = np.asarray(picture.trajectory, dtype=np.float64)
    view = VIEW
    stem = f"{picture.index:07d}"
    files = {"original": (f"{stem}-original.svg", sketch_svg(picture.shapes, picture.original, view,
                                                              f"{picture.title}: original"))}
    if show_start:
        files["start"] = (f"{stem}-start.svg", sketch_svg(picture.shapes, traj[0], view, f"{picture.title}: start"))
    files["result"] = (f"{stem}-result.svg", sketch_svg(picture.shapes, traj[-1], view, f"{picture.title}: result"))
    files["animation"] = (f"{stem}-animation.svg", animation_svg(
        picture.shapes, traj[_frame_subset(len(traj), animation_frames)], view, f"{picture.title}: optimisation"))
    if picture.p_target is not None:
        files["p(target) per step"] = (f"{stem}-probability.svg",
                                       probability_svg(picture.p_target, f"{picture.title}: target probability"))
    for name, text in files.values():
        atomic_write_text(folder / name, text)
    return {view_name: name for view_name, (name, _) in files.items()}


_STYLE = """body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
.sketch{border:1px solid #ddd;border-radius:6px;padding:.6em;margin:0 0 1em 0}
.views{display:flex;flex-wrap:wrap;gap:.6em}.views figure{margin:0;text-align:center}
.facts{font-size:.9em;color:#444;margin:.3em 0}figcaption{font-size:.85em}"""


def write_gallery(folder: str | Path, pictures: list[SketchPicture], heading: str, notes: list[str],
                  show_start: bool, animation_frames: int) -> Path:
    """Write every sketch's SVGs and ``folder/index.html``; returns the page's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    esc = html.escape
    body = [f"<h1>{esc(heading)}</h1>"]
    body += [f"<p>{esc(note)}</p>" for note in notes]
    body.append("<p>Strokes are coloured by drawing order (first blue, last red); dots mark start points. "
                "The animation replays the optimisation.</p>")
    for picture in pictures:
        files = write_pictures(folder, picture, show_start, animation_frames)
        views = "".join(f'<figure><img src="{esc(name)}" alt="{esc(view)}" width="{SIZE_PX}" height="{SIZE_PX}">'
                        f"<figcaption>{esc(view)}</figcaption></figure>" for view, name in files.items())
        facts = "".join(f"<div>{esc(fact)}</div>" for fact in picture.facts)
        body.append(f'<section class="sketch"><h2>{esc(picture.title)}</h2><div class="facts">{facts}</div>'
                    f'<div class="views">{views}</div></section>')
    if not pictures:
        body.append("<p>No sketch pictures (task.pictures = 0).</p>")
    page = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{esc(heading)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")
    return atomic_write_text(folder / "index.html", page)
