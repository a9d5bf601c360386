"""The contact sheet: a long title is wrapped inside the sheet instead of running off its right edge."""

from __future__ import annotations

import numpy as np

from unshuffle.plots.sheet import BACKGROUND, CAPTION_PX, image_sheet, wrap_text


def test_wrap_text_by_hand():
    assert wrap_text("aa bb cc dd", 5, len) == ["aa bb", "cc dd"]
    assert wrap_text("aa bb cc", 4, len) == ["aa", "bb", "cc"]
    assert wrap_text("a toolongword b", 5, len) == ["a", "toolongword", "b"]  # too long: a line of its own
    assert wrap_text("  spaced   out ", 20, len) == ["spaced out"]
    assert wrap_text("", 10, len) == []


def test_long_title_stays_inside_a_narrow_sheet():
    title = "4 groups (#id: pieces, mean confidence), most confident first; red: confidence < 0.5 x the median"
    img = np.zeros((10, 10, 3), np.uint8)
    pad = 8
    sheet = image_sheet([img], ["#0"], title=title, cell=160, pad=pad)
    plain = image_sheet([img], ["#0"], cell=160, pad=pad)
    assert sheet.shape[1] == plain.shape[1] == 176
    extra = sheet.shape[0] - plain.shape[0]  # the title's band: CAPTION_PX per line plus pad
    n_lines = (extra - pad) // CAPTION_PX
    assert extra == n_lines * CAPTION_PX + pad and n_lines >= 3  # ~440 px of text in a 160 px line
    band = sheet[:extra]
    assert (band[:, -pad:] == BACKGROUND).all()  # before the fix the title ran into the right margin
    assert (band != BACKGROUND).any(axis=(1, 2)).sum() > n_lines  # every line holds ink
    assert np.array_equal(sheet[extra:], plain)  # below the title the sheet is unchanged
