"""Two screenshots of a page compared: where it looks different, and how much.

Both are scaled to one width and laid on a white page of the same size, so
a page that grew longer compares its common top and counts the rest as
changed. Pixels that differ by more than `PIXEL_THRESHOLD` on a channel are
changed; changed pixels are grouped on a grid of `CELL`-pixel cells, and
neighbouring changed cells make one region. Regions are given in the newer
screenshot's own pixels. Pillow does the pixel work (the `browser` extra)."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

__all__ = ["VisualDiff", "compare_screenshots", "mark_regions", "COMPARE_WIDTH", "CELL", "PIXEL_THRESHOLD"]

COMPARE_WIDTH = 640  # pixels: screenshots are compared at this width
CELL = 8  # pixels of the compared frame: the grain of regions
PIXEL_THRESHOLD = 40  # of 255 on some channel: anti-aliasing and JPEG-ish noise stay below
MAX_COMPARE_HEIGHT = 16_000  # compared pixels: a page longer than this is compared down to here
MAX_PIXELS = 200_000_000  # a screenshot larger than this is no screenshot of ours


@dataclass(frozen=True)
class VisualDiff:
    width: int  # the newer screenshot's size
    height: int
    changed_area: float  # share of the compared frame that changed, 0..1
    regions: list[tuple[int, int, int, int]] = field(default_factory=list)  # x, y, width, height (newer's pixels)

    def to_json(self) -> dict[str, Any]:
        return {"width": self.width, "height": self.height, "changed_area": round(self.changed_area, 6),
                "regions": [list(r) for r in self.regions]}


def _image(data: bytes) -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise ConfigError("comparing screenshots needs Pillow: pip install 'archiver[browser]'") from None
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Exception as exc:  # a damaged or hostile image is the archive's to report, not a crash
        raise ConfigError(f"a screenshot does not read as an image ({exc})") from None
    return img.convert("RGB")


def compare_screenshots(old_png: bytes, new_png: bytes) -> VisualDiff:
    """Where `new_png` looks different from `old_png`."""
    from PIL import Image, ImageChops

    old, new = _image(old_png), _image(new_png)
    scale = min(1.0, COMPARE_WIDTH / max(old.width, new.width, 1))

    def scaled(img: Any) -> Any:
        w, h = max(1, round(img.width * scale)), max(1, round(img.height * scale))
        return img.resize((w, h), Image.BILINEAR) if (w, h) != img.size else img

    a, b = scaled(old), scaled(new)
    width, height = max(a.width, b.width), min(max(a.height, b.height), MAX_COMPARE_HEIGHT)
    frames = []
    for img in (a, b):
        frame = Image.new("RGB", (width, height), "white")
        frame.paste(img.crop((0, 0, min(img.width, width), min(img.height, height))), (0, 0))
        frames.append(frame)
    # A pixel is changed when some channel moved past the threshold.
    channels = ImageChops.difference(frames[0], frames[1]).split()
    moved = channels[0]
    for channel in channels[1:]:
        moved = ImageChops.lighter(moved, channel)
    mask = moved.point(lambda v: 255 if v > PIXEL_THRESHOLD else 0)
    changed_pixels = mask.histogram()[255]
    cols, rows = math.ceil(width / CELL), math.ceil(height / CELL)
    grid = mask.resize((cols, rows), Image.BOX)  # a cell's mean: above 0 when any pixel in it changed
    data = grid.tobytes()
    changed = {(i % cols, i // cols) for i, v in enumerate(data) if v}
    regions = []
    unit = CELL / scale
    for cells in _components(changed):
        xs, ys = [c[0] for c in cells], [c[1] for c in cells]
        x0, y0 = int(min(xs) * unit), int(min(ys) * unit)
        x1, y1 = min(new.width, math.ceil((max(xs) + 1) * unit)), min(new.height, math.ceil((max(ys) + 1) * unit))
        if x1 > x0 and y1 > y0:
            regions.append((x0, y0, x1 - x0, y1 - y0))
        else:  # a region past the newer screenshot's end: the older one was longer there
            regions.append((x0, min(y0, max(0, new.height - 1)), max(1, x1 - x0), 1))
    regions.sort(key=lambda r: (r[1], r[0]))
    return VisualDiff(width=new.width, height=new.height, changed_area=changed_pixels / (width * height),
                      regions=regions)


def _components(cells: set[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    """Groups of touching cells (eight neighbours: a diagonal stroke is one region)."""
    left = set(cells)
    groups = []
    while left:
        start = left.pop()
        group, todo = [start], [start]
        while todo:
            x, y = todo.pop()
            for dx in (-1, 0, 1):
                for dy in (-1, 0, 1):
                    n = (x + dx, y + dy)
                    if n in left:
                        left.remove(n)
                        group.append(n)
                        todo.append(n)
        groups.append(group)
    return groups


def mark_regions(png: bytes, regions: list[tuple[int, int, int, int]]) -> bytes:
    """The screenshot with each region outlined, as PNG."""
    from PIL import ImageDraw

    img = _image(png)
    draw = ImageDraw.Draw(img)
    line = max(2, img.width // 400)
    for x, y, w, h in regions:
        draw.rectangle((x, y, x + w - 1, y + h - 1), outline=(220, 20, 60), width=line)
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=False)
    return out.getvalue()
