"""The bench's damage conditions: noise, JPEG, eroded borders, unknown turns, missing fragments.

A condition is parsed from a spec such as ``"clean"``, ``"noise"``, ``"jpeg=60"`` or
``"rotation+missing=0.3+unknown-n"`` and applied to a FragmentBag by :func:`apply_damage`, which is
a pure function of ``(bag, condition, seed, index)``. Every random draw is made for the whole bag
from its own stream (one per damage kind), *before* missing fragments are dropped, so a fragment gets
the same noise and the same turn whichever other damages are combined with it.

Order of application: missing fragments are dropped, then each kept fragment is turned, its borders
eroded, Gaussian noise added, and finally it is re-compressed as JPEG (a scan is noisy, then saved).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace

import numpy as np

from unshuffle.errors import ConfigError
from unshuffle.fragments.bags.sampling import FragmentBag

# name -> (field, default parameter when the name is given without "=value", parameter type)
_KINDS: dict[str, tuple[str, float | int | bool, type]] = {
    "noise": ("noise_sigma", 8.0, float),
    "jpeg": ("jpeg_quality", 75, int),
    "eroded": ("erode", 1, int),
    "rotation": ("rotation", True, bool),
    "missing": ("missing", 0.2, float),
    "unknown-n": ("unknown_n", True, bool),
}
# independent random streams, one per damage kind (never reorder: it would change every bench bag)
_STREAM = {"missing": 1, "rotation": 2, "noise": 3}


@dataclass(frozen=True)
class Condition:
    """One bench condition (the default instance is ``clean``).

    Attributes:
        noise_sigma: std of the Gaussian noise on the 0-255 scale (added in float, rounded, clipped); 0 = none.
        jpeg_quality: Pillow JPEG quality each fragment is re-compressed at; None = no re-compression.
        erode: pixels cropped from every side of each fragment (1 turns s x s into (s-2) x (s-2)).
        rotation: each fragment turned by a random multiple of 90 degrees; orientation is unknown.
        missing: share of the bag's fragments removed, uniformly at random (round(missing * M) of them).
        unknown_n: the method is not told the number of source images nor the grid size.
    """

    noise_sigma: float = 0.0
    jpeg_quality: int | None = None
    erode: int = 0
    rotation: bool = False
    missing: float = 0.0
    unknown_n: bool = False

    def validate(self) -> None:
        """Raise ConfigError naming the field when a parameter is out of range."""
        if not (np.isfinite(self.noise_sigma) and self.noise_sigma >= 0):
            raise ConfigError(f"noise sigma must be a finite number >= 0, got {self.noise_sigma}")
        if self.jpeg_quality is not None and not 1 <= self.jpeg_quality <= 95:
            raise ConfigError(f"jpeg quality must be in 1..95, got {self.jpeg_quality}")
        if self.erode < 0:
            raise ConfigError(f"eroded pixels per side must be >= 0, got {self.erode}")
        if not 0.0 <= self.missing < 1.0:
            raise ConfigError(f"missing share must be in [0, 1), got {self.missing}")

    @property
    def name(self) -> str:
        """The canonical spec, e.g. ``"noise=8+missing=0.2"``; parses back to an equal Condition."""
        parts = []
        if self.noise_sigma:
            parts.append(f"noise={self.noise_sigma:g}")
        if self.jpeg_quality is not None:
            parts.append(f"jpeg={self.jpeg_quality}")
        if self.erode:
            parts.append(f"eroded={self.erode}")
        if self.rotation:
            parts.append("rotation")
        if self.missing:
            parts.append(f"missing={self.missing:g}")
        if self.unknown_n:
            parts.append("unknown-n")
        return "+".join(parts) or "clean"

    def to_dict(self) -> dict:
        """Plain JSON-ready dict of the fields plus the canonical name."""
        return {"name": self.name, "noise_sigma": self.noise_sigma, "jpeg_quality": self.jpeg_quality,
                "erode": self.erode, "rotation": self.rotation, "missing": self.missing,
                "unknown_n": self.unknown_n}


def parse_condition(spec: str) -> Condition:
    """Parse ``"clean"`` or ``"+"``-joined kinds with optional ``=value`` parameters.

    Kinds and their defaults: ``noise`` (sigma 8), ``jpeg`` (quality 75), ``eroded`` (1 px per side),
    ``rotation``, ``missing`` (share 0.2), ``unknown-n``. Example: ``"noise=12+jpeg+unknown-n"``.
    """
    spec = spec.strip()
    if not spec:
        raise ConfigError("empty condition spec; use 'clean' or e.g. 'noise+missing'")
    fields: dict[str, float | int | bool] = {}
    for part in spec.split("+"):
        name, eq, value = part.strip().partition("=")
        if name == "clean" and not eq:
            continue
        if name not in _KINDS:
            raise ConfigError(f"unknown condition {name!r} in {spec!r}; "
                              f"valid: clean, {', '.join(_KINDS)} (combine with '+')")
        field_name, default, kind = _KINDS[name]
        if field_name in fields:
            raise ConfigError(f"condition {name!r} given twice in {spec!r}")
        if not eq:
            fields[field_name] = default
        elif kind is bool:
            raise ConfigError(f"condition {name!r} takes no parameter, got {part!r} in {spec!r}")
        else:
            try:
                fields[field_name] = kind(value)
            except ValueError:
                raise ConfigError(f"condition {name!r} needs a {kind.__name__} parameter, "
                                  f"got {value!r} in {spec!r}") from None
    cond = Condition(**fields)
    cond.validate()
    return cond


def _rng(seed: int, index: int, kind: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(index), _STREAM[kind]]))


def apply_damage(bag: FragmentBag, condition: Condition, seed: int = 0, index: int = 0) -> FragmentBag:
    """A new bag with ``condition`` applied; a pure function of (bag, condition, seed, index).

    The returned bag's provenance is updated: dropped fragments leave ``source/row/col/turn``, and
    ``turn`` becomes the quarter turns CCW that put each given fragment upright
    (``given = np.rot90(upright, k=-turn)``, composed with any turn the bag already had).
    """
    condition.validate()
    if seed < 0 or index < 0:
        raise ConfigError(f"seed and sample index must be >= 0, got seed={seed}, index={index}")
    m, s = len(bag), bag.fragment_size
    if condition.erode and s - 2 * condition.erode < 1:
        raise ConfigError(f"cannot erode {condition.erode} px per side from {s} px fragments")
    keep = np.arange(m)
    if condition.missing:
        n_drop = int(round(condition.missing * m))
        drop = _rng(seed, index, "missing").choice(m, size=n_drop, replace=False)
        keep = np.setdiff1d(keep, drop)  # sorted: the bag's shuffled order is kept
    out = bag.select(keep)
    frags, turn = out.fragments, out.turn
    if condition.rotation:
        turns = _rng(seed, index, "rotation").integers(0, 4, size=m)[keep]
        frags = turn_fragments(frags, -turns)
        turn = (turn + turns) % 4
    if condition.erode:
        e = condition.erode
        frags = frags[:, e:-e, e:-e]
    if condition.noise_sigma:
        noise = _rng(seed, index, "noise").standard_normal((m, *frags.shape[1:]), dtype=np.float32)
        frags = add_noise(frags, noise[keep] * np.float32(condition.noise_sigma))
    if condition.jpeg_quality is not None:
        frags = jpeg_roundtrip(frags, condition.jpeg_quality)
    return replace(out, fragments=np.ascontiguousarray(frags, dtype=np.uint8), turn=turn.astype(np.int64))


def turn_fragments(fragments: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Each fragment turned by its own quarter turns CCW: out[i] = np.rot90(fragments[i], k=k[i]).

    fragments: (M, s, s, C) uint8; k: (M,) int. Returns (M, s, s, C) uint8, a new array.
    """
    k = np.asarray(k, dtype=np.int64) % 4
    out = np.empty_like(fragments)
    for q in range(4):
        sel = k == q
        if sel.any():
            out[sel] = np.rot90(fragments[sel], k=q, axes=(1, 2))
    return out


def add_noise(fragments: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """fragments + noise in float32, rounded half to even and clipped to 0..255.

    fragments: (M, h, w, 3) uint8; noise: same shape, float32 on the 0-255 scale. Returns uint8.
    """
    return np.clip(np.rint(fragments.astype(np.float32) + noise), 0, 255).astype(np.uint8)


def jpeg_roundtrip(fragments: np.ndarray, quality: int) -> np.ndarray:
    """Each fragment encoded as JPEG by Pillow at ``quality`` (default 4:2:0 subsampling) and decoded.

    fragments: (M, h, w, 3) uint8. Returns (M, h, w, 3) uint8.
    """
    from PIL import Image

    out = np.empty_like(fragments)
    for i, f in enumerate(fragments):
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(f)).save(buf, format="JPEG", quality=int(quality))
        buf.seek(0)
        with Image.open(buf) as im:
            out[i] = np.asarray(im.convert("RGB"))
    return out
