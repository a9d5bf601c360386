"""A contact sheet: images of any sizes tiled in rows with a caption under each (NumPy and Pillow only)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

BACKGROUND = 255
CAPTION_PX = 14


def image_sheet(images: list[np.ndarray], captions: list[str], *, title: str = "", cell: int = 160,
                columns: int | None = None, pad: int = 8) -> np.ndarray:
    """Tile ``images`` ((h, w, 3) uint8 each, any sizes) into one (H, W, 3) uint8 sheet.

    Each image is scaled (nearest neighbour, never above 4x) to fit a ``cell`` x ``cell`` box and
    captioned below; ``columns`` defaults to a near-square layout of at most 6 columns. The title is
    wrapped at spaces into as many lines as the sheet's width needs.
    """
    from PIL import Image, ImageDraw

    if len(images) != len(captions):
        raise ValueError(f"{len(images)} images for {len(captions)} captions")
    n = max(len(images), 1)
    columns = columns or sheet_columns(n)
    rows = int(np.ceil(n / columns))
    width = columns * (cell + pad) + pad
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines = wrap_text(title, width - 2 * pad, draw.textlength) if title else []
    head = CAPTION_PX * len(lines) + pad if lines else 0
    box_h = cell + CAPTION_PX + pad
    sheet = Image.new("RGB", (width, head + rows * box_h + pad), (BACKGROUND,) * 3)
    draw = ImageDraw.Draw(sheet)
    for i, line in enumerate(lines):
        draw.text((pad, pad // 2 + i * CAPTION_PX), line, fill=(0, 0, 0))
    for k, (img, caption) in enumerate(zip(images, captions, strict=True)):
        r, c = divmod(k, columns)
        h, w = img.shape[:2]
        scale = min(cell / max(h, w), 4.0)
        size = (max(1, int(w * scale)), max(1, int(h * scale)))
        tile = Image.fromarray(np.ascontiguousarray(img)).resize(size, Image.NEAREST)
        x, y = pad + c * (cell + pad), head + pad + r * box_h
        sheet.paste(tile, (x + (cell - size[0]) // 2, y + (cell - size[1]) // 2))
        draw.text((x, y + cell + 2), caption[: cell // 6], fill=(0, 0, 0))
    return np.asarray(sheet)


def sheet_columns(n: int) -> int:
    """``image_sheet``'s default columns for ``n`` images: a near-square layout of at most 6."""
    return min(6, int(np.ceil(np.sqrt(max(n, 1)))))


def wrap_text(text: str, width: float, length: Callable[[str], float]) -> list[str]:
    """``text`` split at spaces into lines of at most ``width`` (as measured by ``length``); a word longer
    than ``width`` gets a line of its own."""
    lines: list[str] = []
    for word in text.split():
        if lines and length(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines
