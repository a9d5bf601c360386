"""Bags mixing puzzles of different sizes, count not given: whole images are told from parts by their seams."""

from __future__ import annotations

import numpy as np
import pytest

from unshuffle.evaluation.metrics import grouping_scores
from unshuffle.fragments.solver.cells import completes
from unshuffle.fragments.solver.estimate import (
    CLOSED_MAX_LINKS,
    KeepApart,
    closed_clusters,
    count_images,
    join_by_looks,
    may_absorb,
)
from unshuffle.fragments.solver.fragment_solver import FragmentSolver
from unshuffle.fragments.solver.placement import Assembler, Cluster


def _block(rows: int, cols: int, r0: int = 0, c0: int = 0) -> np.ndarray:
    return np.array([(r0 + r, c0 + c) for r in range(rows) for c in range(cols)])


def _edges(*rows: tuple[float, int, int]) -> np.ndarray:
    """Candidate seam table rows (score, fragment a, turn a, fragment b, turn b, relation)."""
    return np.array([(s, a, 0, b, 0, 0) for s, a, b in rows], dtype=np.float64)


def test_closed_clusters_by_size_fill_and_clear_seams_leaving():
    corner = np.array([(r, c) for r, c in _block(12, 12) if r >= 6 or c >= 6])  # 108 of a 12 x 12 box: fill 0.75
    members = [list(range(120)), list(range(120, 240)), list(range(240, 300)), list(range(300, 408))]
    shapes = [_block(10, 12), _block(10, 12), _block(6, 10), corner]
    inside = [(0.3, 0, 1), (0.2, 130, 131), (0.1, 250, 251)]
    unclear = [(0.9, 5, 125), (1.4, 6, 126)]  # seams out of a cluster that are not clear do not count
    # the 6 x 10 block is a small whole image (CLOSED_SMALL_PIECES), the corner fills too little of its box
    assert closed_clusters(members, shapes, _edges(*inside, *unclear), 408).tolist() == [True, True, True, False]
    # clear seams from cluster 0 to cluster 1: over CLOSED_MAX_LINKS of the 2 * (10 + 12) border cells
    links = int(np.floor(CLOSED_MAX_LINKS * 44)) + 1
    cross = [(0.5, k, 120 + k) for k in range(links)]
    assert closed_clusters(members, shapes, _edges(*inside, *cross), 408).tolist() == [False, False, True, False]
    # as many as the share allows leave both closed; so do clear seams to fragments in no cluster or in one
    # of under CLOSED_MIN_PARTNER fragments (the image's own strays), and many seams from one fragment count once
    ok = cross[:links - 1]
    assert closed_clusters(members, shapes, _edges(*ok), 408).tolist() == [True, True, True, False]
    strays = [(0.5, k, 400 + k % 3) for k in range(links)] + [(0.4 + 0.01 * k, 7, 120) for k in range(links)]
    tiny = members + [[400, 401, 402]]
    assert closed_clusters(tiny, [*shapes, _block(1, 3)], _edges(*strays), 408).tolist() == [True, True, True, False,
                                                                                            False]
    assert closed_clusters(members[:1], shapes[:1], _edges(*[(0.5, k, 390) for k in range(links)]), 408)[0]


def test_small_whole_images_are_closed_only_beside_a_puzzle():
    """A 4 x 5 photo beside a 120-piece one is a closed image; a 3 x 5 cluster is too small; with no
    puzzle-sized cluster in the bag (64-px images of 16 pieces) nothing is tested."""
    members = [list(range(120)), list(range(120, 140)), list(range(140, 155))]
    shapes = [_block(10, 12), _block(4, 5), _block(3, 5)]
    inside = _edges((0.3, 0, 1), (0.2, 121, 122))
    assert closed_clusters(members, shapes, inside, 155).tolist() == [True, True, False]
    assert closed_clusters(members[1:], shapes[1:], inside, 155).tolist() == [False, False]
    # one clear seam from the small photo to the large one: over CLOSED_MAX_LINKS of its 18 border cells, not of 44
    assert closed_clusters(members, shapes, _edges((0.3, 0, 1), (0.5, 125, 7)), 155).tolist() == [True, False, False]
    # a band short of a full rectangle that squares off the large cluster is a part of it, not a small image;
    # a full rectangle is taken for an image even where it would square one off (photos share side lengths)
    band = [list(range(120)), list(range(120, 167))]
    assert closed_clusters(band, [_block(10, 12), _block(4, 12)[1:]], inside, 167).tolist() == [True, False]
    band[1].append(167)
    assert closed_clusters(band, [_block(10, 12), _block(4, 12)], inside, 168).tolist() == [True, True]
    # a seam of 0.85 out of each: not clear for the large cluster, clear enough to open the small one
    assert closed_clusters(members, shapes, _edges((0.3, 0, 1), (0.85, 125, 7)), 155).tolist() == [True, False, False]
    strip = [list(range(120)), list(range(120, 142))]  # one row of 22: a strip of an image, not a photo
    assert closed_clusters(strip, [_block(10, 12), _block(1, 22)], inside, 142).tolist() == [True, False]
    ragged = [list(range(120)), list(range(120, 139))]  # a 4 x 5 photo short of one piece, beside: still closed
    assert closed_clusters(ragged, [_block(10, 12), _block(4, 5)[1:]], inside, 139).tolist() == [True, True]
    assert closed_clusters(ragged, [_block(10, 12), _block(4, 5)[1:]], inside, 139, small=False).tolist() == [True,
                                                                                                            False]
    # counted by looks, a closed cluster under 5 % of the frame is kept (not dropped as a crumb)
    assert sorted(join_by_looks([120, 20], shapes[:2], np.ones((2, 8)), (25, 25), closed=np.array([1, 1], bool))) \
        == [20, 120]


def test_completes_asks_for_a_nearly_full_rectangle():
    large = _block(10, 12)
    assert completes(large, _block(4, 12))  # below it: 14 x 12, full
    assert completes(large, _block(10, 3, 5, 40))  # beside it, wherever its cells were numbered
    assert not completes(large, _block(12, 4)) and completes(large, _block(12, 4), rotations=True)  # turned band
    assert completes(_block(20, 5), _block(5, 12)[1:], rotations=True)  # turned, longer than large's side
    assert not completes(_block(60, 60), _block(3, 8)[1:])  # beside a long side it fills little of the band
    assert not completes(large, _block(4, 5))  # 140 pieces in at least 14 x 12 or 10 x 17: not 95 % full
    notched = np.array([(r, c) for r, c in _block(12, 12) if not (r >= 10 and c < 6)])  # 132, a 2 x 6 notch
    assert completes(notched, _block(2, 6))  # fills the notch: a full 12 x 12
    assert not completes(notched[notched[:, 0] < 10], _block(2, 6))  # 10 x 12 full plus 12: a half row


def test_two_small_whole_images_fitting_one_frame_are_not_joined():
    """A 486-piece image and two 187-piece images: the frame is the large one's square (27 x 27), in which
    the two small ones fit side by side with the same palette, so by looks they join; closed, they do not."""
    sizes, shapes = [486, 187, 187], [_block(18, 27), _block(11, 17), _block(11, 17)]
    looks = np.ones((3, 8))
    assert count_images(sizes, 860, (27, 27), 0.25, shapes=shapes, looks=looks) == 2
    assert count_images(sizes, 860, (27, 27), 0.25, shapes=shapes, looks=looks, closed=np.array([1, 1, 1], bool)) == 3
    assert sorted(join_by_looks(sizes[1:], shapes[1:], looks[1:], (27, 27))) == [374]
    two_closed = np.array([1, 1], bool)
    assert sorted(join_by_looks(sizes[1:], shapes[1:], looks[1:], (27, 27), closed=two_closed)) == [187, 187]
    # a closed image may still take a part that is not closed (a piece of it cut off along a seam)
    part = _block(11, 6)
    assert join_by_looks([187, 66], [_block(11, 17), part], np.ones((2, 8)), (27, 27), closed=np.array([1, 0], bool)) \
        == [253]


def test_fragments_outside_whole_images_count_by_a_typical_whole_image():
    """Whole images of 486 and 187 fragments and 187 fragments in other parts (one image cut into a
    150-piece part that no whole image takes, and strays): 187 / median(486, 187) = 0.56 of an image,
    over count_min_share 0.4, so one more image; 63 fragments (0.19) would not be."""
    ragged = np.array([(r, c) for r, c in _block(15, 13) if (r + c) % 4])[:150]  # fill 0.77: not a band
    sizes, shapes = [486, 187, 150], [_block(18, 27), _block(11, 17), ragged]
    closed = np.array([1, 1, 0], bool)
    assert count_images(sizes, 860, (27, 27), 0.4, shapes=shapes, looks=np.ones((3, 8)), closed=closed) == 3
    assert count_images([486, 187, 63], 736, (27, 27), 0.4, shapes=[*shapes[:2], ragged[:63]], looks=np.ones((3, 8)),
                        closed=closed) == 2


def test_small_photos_do_not_shrink_the_unit_of_a_whole_image():
    """One whole 400-piece image, one split into two halves of 200 and two small photos of 20: four images
    (with the small photos in the median unit, the 400 fragments outside whole images made 20 more)."""
    sizes = [400, 200, 200, 20, 20]
    shapes = [_block(20, 20), _block(10, 20), _block(10, 20), _block(4, 5), _block(4, 5)]
    closed = np.array([1, 0, 0, 1, 1], bool)
    assert count_images(sizes, 840, (20, 20), 0.4, shapes=shapes, closed=closed) == 4
    assert count_images(sizes, 840, (20, 20), 0.4, shapes=shapes, looks=np.ones((5, 8)), closed=closed) == 4


def test_a_whole_image_takes_strays_and_bands_only():
    whole = _block(11, 17)  # 187 cells
    assert may_absorb(whole, _block(3, 6), False)  # 18 <= 10 % of 187: strays, a corner
    assert may_absorb(whole, _block(5, 17), False)  # a band along its width (a sky cut off at the horizon)
    assert may_absorb(whole, _block(11, 6), False)  # ... or along its height
    assert not may_absorb(whole, _block(15, 13), False)  # another image's part: no side in common
    ragged = np.array([(r, c) for r, c in _block(12, 17) if (r + c) % 4])  # 17 wide but a fill of 0.75
    assert not may_absorb(whole, ragged, False)
    assert not may_absorb(whole, _block(17, 5), False) and may_absorb(whole, _block(17, 5), True)  # turned band
    assert not may_absorb(_block(4, 5), _block(4, 20), False)  # a small photo takes no band larger than itself


def _assembler(blocks: list[np.ndarray]) -> Assembler:
    """An Assembler whose clusters are the given blocks of cells (fragments numbered block by block)."""
    asm = Assembler(sum(len(b) for b in blocks), None, False)
    asm.clusters, f = {}, 0
    for b in blocks:
        pos = {f + i: (int(r), int(c), 0) for i, (r, c) in enumerate(b)}
        asm.clusters[f] = Cluster(pos, {(r, c, ): g for g, (r, c, _) in pos.items()},
                                  (int(b[:, 0].min()), int(b[:, 0].max()), int(b[:, 1].min()), int(b[:, 1].max())))
        for g in pos:
            asm.owner[g] = f
        f += len(b)
    return asm


def test_keep_apart_follows_whole_images_through_merges():
    asm = _assembler([_block(11, 17), _block(11, 17), _block(15, 13), _block(2, 3)])  # ids 0, 187, 374, 569
    apart = KeepApart(asm, [0, 187])
    assert apart(0, 187) and apart(187, 0)  # two whole images
    assert not apart(0, 374) and not apart(374, 187) and not apart(374, 569)  # a whole image and a part; two parts
    asm.apply(374, 569, [(f, r + 20, c, t) for f, (r, c, t) in asm.clusters[569].pos.items()], quality=1.0)
    asm.apply(0, 374, [(f, r + 11, c, t) for f, (r, c, t) in asm.clusters[374].pos.items()], quality=1.0)
    assert apart(0, 187)  # the whole image is followed to its new cluster, whatever it holds now


def test_a_frame_must_hold_every_whole_image_found():
    asm = _assembler([_block(18, 27), _block(11, 17), _block(15, 13)])  # two whole images and a part
    apart = KeepApart(asm, [0, 486])
    assert apart.extents == [(18, 26), (11, 17)]  # core extents (95 % of the cells along each axis)
    assert apart.holds((27, 27), False) and apart.holds((18, 27), False)
    assert not apart.holds((18, 18), False)  # cuts the 18 x 27 image
    assert not apart.holds((27, 18), False) and apart.holds((27, 18), True)  # the frame turned under rotations
    assert KeepApart(asm, []).holds((1, 1), False)  # no whole image: any frame


def _pieces(img: np.ndarray, s: int) -> np.ndarray:
    r, c = img.shape[0] // s, img.shape[1] // s
    return img[:r * s, :c * s].reshape(r, s, c, s, 3).transpose(0, 2, 1, 3, 4).reshape(-1, s, s, 3)


@pytest.mark.parametrize("crops", [
    # coffee (16 x 25 pieces), chelsea (12 x 18) and a 12 x 12 crop of astronaut: three groups (the two smaller
    # fit one frame of the largest)
    [("coffee", None), ("chelsea", None), ("astronaut", (288, 288))],
    # coffee and a 4 x 5 crop of rocket: two groups (the small photo is a closed image, not a part of coffee's)
    [("coffee", None), ("rocket", (96, 120))],
])
def test_mixed_bag_of_photos_of_different_sizes(crops):
    """Photos cut into 24-px pieces, shuffled together, nothing given: one group per photo."""
    import skimage.data

    imgs = [getattr(skimage.data, name)()[:size[0], :size[1]] if size else getattr(skimage.data, name)()
            for name, size in crops]
    parts = [_pieces(im, 24) for im in imgs]
    frags = np.concatenate(parts)
    src = np.concatenate([np.full(len(p), j) for j, p in enumerate(parts)])
    order = np.random.default_rng(0).permutation(len(frags))
    sol = FragmentSolver().solve(frags[order])
    assert sol.settings["n_images"] == len(crops)
    assert grouping_scores(src[order], sol.group)["ari"] == 1.0
