"""The shapes world: one coloured shape on a plain light background, drawn on the fly, with a caption.

Every sample is a function of (split, seed, index) alone, so there are no files to download and the same
index always gives the same picture:

    attributes = {color, shape, size, position, x, y, radius}     drawn from a seeded torch.Generator
    image, mask = render(attributes)                              (3, 64, 64) in [-1, 1], (1, 64, 64) in {0, 1}
    edges = mask - erosion(mask)                                  the 1-pixel outline, for control models
    caption = "a large red circle on the left"                    words only where they are true

Geometry, in pixels with y growing downwards (row 0 is the top): (x, y) is the shape's centroid and every
shape spans x - radius … x + radius horizontally. The canvas is cut into thirds along each axis; a shape is
"on the left" when x is in the left third and y in the middle third, "at the top" when y is in the top third
and x in the middle third, and so on; "center" (no position word) is the middle cell. The sampler never puts
a shape in a corner cell, where one position word would be only half the truth.

    sample(index, seed)  →  dict for one picture        batch(n or indices, seed)  →  stacked tensors
    ShapesDataset(length, seed, split)                  a torch Dataset over sample()
"""

import math

import torch
import torch.nn.functional as F

RESOLUTION = 64  # pixels per side
COLORS = {  # name → RGB in [0, 1]; far enough apart that ±COLOR_JITTER never blurs two names together
    "red": (0.86, 0.13, 0.13),
    "green": (0.15, 0.65, 0.20),
    "blue": (0.15, 0.30, 0.88),
    "yellow": (0.95, 0.82, 0.10),
    "purple": (0.55, 0.20, 0.75),
    "cyan": (0.10, 0.75, 0.85),
    "orange": (0.97, 0.50, 0.08),
}
SHAPES = ("circle", "square", "triangle")
SIZES = {"small": (5.0, 7.0), "medium": (9.5, 12.5), "large": (15.0, 18.0)}  # radius ranges (px), with gaps
POSITIONS = ("left", "right", "top", "bottom", "center")
SPLITS = ("train", "test")

SIZE_WORDS = {"small": "small", "medium": None, "large": "large"}  # "a medium red circle" is not English
POSITION_PHRASES = {"left": "on the left", "right": "on the right", "top": "at the top", "bottom": "at the bottom"}
P_SIZE_WORD = 0.5  # chance a caption mentions the size, when the size has a word
P_POSITION_WORD = 0.5  # chance a caption mentions the position, when the shape is off-centre

BACKGROUND = (0.93, 0.92, 0.89)  # warm light grey
BACKGROUND_JITTER = 0.03  # ± per channel
COLOR_JITTER = 0.06  # ± per channel
THIRD = RESOLUTION / 3
MARGIN = 1.0  # px kept clear of the third lines, so no centre sits on a boundary between two words

# Which third each position puts the centre in, as (x band, y band): 0 = low third, 1 = middle, 2 = high.
_BANDS = {"left": (0, 1), "right": (2, 1), "top": (1, 0), "bottom": (1, 2), "center": (1, 1)}

# A torch.Generator is seeded from 32 bits only (manual_seed(1) and manual_seed(1 + 2**32) draw the same
# numbers), so the bits are laid out by hand: split (1 bit) | seed (10 bits) | index (21 bits). Every
# (split, seed, index) gets its own stream, so the train and test splits can never share a sample.
MAX_SEED = 2**10
MAX_INDEX = 2**21

# Each sample draws its 13 uniforms in one call, in this order (caption_for then draws 2 more), so batch() is
# exactly a loop of sample():
#   0 colour   1 shape   2 size   3 radius within its size   4 position   5 x   6 y   7:10 background   10:13 colour
_N_UNIFORMS = 13


def _check_name(argument: str, value, valid) -> None:
    if value not in valid:
        raise ValueError(f"{argument}: got {value!r}; valid values are {', '.join(map(repr, valid))}.")


def generator(index: int, seed: int = 0, split: str = "train") -> torch.Generator:
    """The random stream of one sample: a torch.Generator seeded from (split, seed, index)."""
    _check_name("split", split, SPLITS)
    if not 0 <= seed < MAX_SEED:
        raise ValueError(f"seed: got {seed}; valid values are 0 … {MAX_SEED - 1} (10 bits of the generator seed).")
    if not 0 <= index < MAX_INDEX:
        raise ValueError(f"index: got {index}; valid values are 0 … {MAX_INDEX - 1} (21 bits of the generator seed).")
    return torch.Generator().manual_seed((SPLITS.index(split) << 31) | (seed << 21) | index)


def position_of(x: float, y: float) -> str | None:
    """The position word for a centre (x, y) in pixels; None in a corner cell, which the grammar cannot name."""
    column, row = min(int(x // THIRD), 2), min(int(y // THIRD), 2)  # 0, 1 or 2 along each axis
    for position, bands in _BANDS.items():
        if bands == (column, row):
            return position
    return None


def caption_for(
    attributes: dict,
    rng: torch.Generator | None = None,
    p_size: float = P_SIZE_WORD,
    p_position: float = P_POSITION_WORD,
) -> str:
    """A caption that is true of `attributes`: "a {size} {color} {shape} {position}", optional parts drawn from rng.

    p_size = p_position = 1 gives the fullest caption the grammar has; 0 gives "a {color} {shape}".
    """
    draw_size, draw_position = torch.rand(2, generator=rng).tolist()
    with_size, with_position = draw_size < p_size, draw_position < p_position
    words = [
        SIZE_WORDS[attributes["size"]] if with_size else None,
        attributes["color"],
        attributes["shape"],
        POSITION_PHRASES.get(attributes["position"]) if with_position else None,  # "center" has no phrase
    ]
    text = " ".join(word for word in words if word)
    return ("an " if text[0] in "aeiou" else "a ") + text  # "an orange square", "a large orange square"


def vocabulary() -> list[str]:
    """Every word the caption grammar can produce, in a fixed order (the tokenizer gives each one token)."""
    words = ["a", "an", *SIZE_WORDS.values(), *COLORS, *SHAPES, *" ".join(POSITION_PHRASES.values()).split()]
    return list(dict.fromkeys(word for word in words if word))  # drop None and repeats, keep the order


def signed_distance(shape_id: torch.Tensor, x: torch.Tensor, y: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """Distance in pixels from each pixel centre to each shape's outline: < 0 inside, > 0 outside.

    shape_id (B,) indexes SHAPES; x, y, radius (B,) in pixels. Returns (B, H, W). For the square and the
    triangle this is the largest signed distance to an edge line: exact inside, a little short near corners.
    """
    centres = torch.arange(RESOLUTION) + 0.5  # pixel i covers [i, i+1)
    dx = centres[None, None, :] - x[:, None, None]  # (B, 1, W)
    dy = centres[None, :, None] - y[:, None, None]  # (B, H, 1)
    r = radius[:, None, None]  # (B, 1, 1)
    circle = torch.hypot(dx, dy) - r  # √(dx² + dy²) - r
    square = torch.maximum(dx.abs(), dy.abs()) - r
    # Triangle with apex (0, -r) and base corners (±r, r/2) about (x, y): its centroid is (x, y).
    # A side runs from the apex to (r, r/2), so its outward normal is (1.5, -1)/√3.25 (mirrored for the left side).
    base = dy - r / 2
    sides = (1.5 * dx.abs() - (dy + r)) / math.sqrt(3.25)
    triangle = torch.maximum(base, sides)
    shape_id = shape_id[:, None, None]
    return torch.where(shape_id == 0, circle, torch.where(shape_id == 1, square, triangle))  # (B, H, W)


def edge_map(mask: torch.Tensor) -> torch.Tensor:
    """The 1-pixel inner outline of a {0, 1} mask (…, C, H, W): mask minus its 3×3 erosion.

    A pixel survives erosion when all 9 pixels of its 3×3 neighbourhood are inside the mask: the minimum over
    a 3×3 window, taken as a 1×3 minimum then a 3×1 minimum of shifted views (cheaper than a pooling call,
    which on a single small image costs more in thread start-up than in arithmetic).
    """
    padded = F.pad(mask, (1, 1, 1, 1), value=0.0)  # (…, C, H+2, W+2); beyond the canvas counts as outside
    across = torch.minimum(torch.minimum(padded[..., :-2], padded[..., 1:-1]), padded[..., 2:])  # (…, H+2, W)
    eroded = torch.minimum(torch.minimum(across[..., :-2, :], across[..., 1:-1, :]), across[..., 2:, :])  # (…, H, W)
    return mask - eroded


def _draw(shape_id, x, y, radius, rgb, background):
    """(B,) geometry, (B, 3) colours in [0, 1] → image (B, 3, H, W) in [-1, 1] and mask (B, 1, H, W) in {0, 1}."""
    distance = signed_distance(shape_id, x, y, radius)[:, None]  # (B, 1, H, W)
    # Anti-aliasing: a pixel one unit wide whose centre lies d px inside the outline is about (½ + d) covered.
    coverage = (0.5 - distance).clamp(0, 1)
    # pixel = background + coverage·(colour - background), with both colours first mapped to [-1, 1]
    image = torch.lerp(background[:, :, None, None] * 2 - 1, rgb[:, :, None, None] * 2 - 1, coverage)  # (B, 3, H, W)
    mask = (distance <= 0).float()  # the pixels more than half covered
    return image, mask


def render(attributes: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw a chosen scene: color and shape, plus radius (or a size name: its range's midpoint) and x, y (px).

    x and y default to the canvas centre; colours are exact (no jitter) on the plain BACKGROUND.
    Returns image (3, 64, 64) in [-1, 1] and mask (1, 64, 64) in {0, 1}.
    """
    _check_name("attributes['color']", attributes.get("color"), COLORS)
    _check_name("attributes['shape']", attributes.get("shape"), SHAPES)
    radius = attributes.get("radius")
    if radius is None:
        _check_name("attributes['size'] (or give 'radius')", attributes.get("size"), SIZES)
        radius = sum(SIZES[attributes["size"]]) / 2
    image, mask = _draw(
        torch.tensor([SHAPES.index(attributes["shape"])]),
        torch.tensor([float(attributes.get("x", RESOLUTION / 2))]),
        torch.tensor([float(attributes.get("y", RESOLUTION / 2))]),
        torch.tensor([float(radius)]),
        rgb=torch.tensor([COLORS[attributes["color"]]]),
        background=torch.tensor([BACKGROUND]),
    )
    return image[0], mask[0]


def _scene_from_uniforms(u: torch.Tensor) -> dict:
    """u (B, 13) uniforms in [0, 1) → the scene's attributes as (B,) / (B, 3) tensors."""
    color_id = (u[:, 0] * len(COLORS)).long()
    shape_id = (u[:, 1] * len(SHAPES)).long()
    size_id = (u[:, 2] * len(SIZES)).long()
    position_id = (u[:, 4] * len(POSITIONS)).long()
    low, high = torch.tensor(list(SIZES.values())).T  # (3,) each
    radius = low[size_id] + u[:, 3] * (high - low)[size_id]
    # The three bands of one axis for each radius, (B, 3): the shape must stay inside the canvas.
    ones = torch.ones_like(radius)
    band_low = torch.stack([radius, ones * (THIRD + MARGIN), ones * (2 * THIRD + MARGIN)], dim=1)
    band_high = torch.stack([ones * (THIRD - MARGIN), ones * (2 * THIRD - MARGIN), RESOLUTION - radius], dim=1)
    x_band, y_band = torch.tensor([_BANDS[p] for p in POSITIONS])[position_id].T  # (B,) each

    def place(band, v):  # a uniform v in [0, 1) → a coordinate inside the chosen band
        lo, hi = band_low.gather(1, band[:, None])[:, 0], band_high.gather(1, band[:, None])[:, 0]
        return lo + v * (hi - lo)

    background = torch.tensor(BACKGROUND) + BACKGROUND_JITTER * (2 * u[:, 7:10] - 1)  # (B, 3)
    rgb = torch.tensor(list(COLORS.values()))[color_id] + COLOR_JITTER * (2 * u[:, 10:13] - 1)  # (B, 3)
    return dict(
        color_id=color_id,
        shape_id=shape_id,
        size_id=size_id,
        position_id=position_id,
        x=place(x_band, u[:, 5]),
        y=place(y_band, u[:, 6]),
        radius=radius,
        rgb=rgb.clamp(0, 1),
        background=background,
    )


def batch(indices, seed: int = 0, split: str = "train") -> dict:
    """Samples `indices` (or range(n) for an int n), drawn together: the same values as sample() one by one.

    Returns image (B, 3, 64, 64) in [-1, 1], mask and edges (B, 1, 64, 64) in {0, 1},
    caption: list of B strings, attributes: list of B dicts.
    """
    indices = range(indices) if isinstance(indices, int) else indices
    generators = [generator(int(i), seed, split) for i in indices]
    if not generators:
        raise ValueError("indices: got none; pass a positive count or a non-empty list of indices.")
    u = torch.stack([torch.rand(_N_UNIFORMS, generator=g) for g in generators])  # (B, 13)
    scene = _scene_from_uniforms(u)
    image, mask = _draw(scene["shape_id"], scene["x"], scene["y"], scene["radius"], scene["rgb"], scene["background"])

    columns = zip(*(scene[k].tolist() for k in ("color_id", "shape_id", "size_id", "position_id", "x", "y", "radius")))
    attributes = [
        dict(color=list(COLORS)[c], shape=SHAPES[s], size=list(SIZES)[z], position=POSITIONS[p], x=x, y=y, radius=r)
        for c, s, z, p, x, y, r in columns
    ]
    captions = [caption_for(a, g) for a, g in zip(attributes, generators)]  # two more draws per sample
    return dict(image=image, mask=mask, edges=edge_map(mask), caption=captions, attributes=attributes)


def sample(index: int, seed: int = 0, split: str = "train") -> dict:
    """One sample: image (3, 64, 64) in [-1, 1], mask and edges (1, 64, 64) in {0, 1}, caption, attributes."""
    one = batch([index], seed, split)
    return dict(
        image=one["image"][0],
        mask=one["mask"][0],
        edges=one["edges"][0],
        caption=one["caption"][0],
        attributes=one["attributes"][0],
    )


class ShapesDataset(torch.utils.data.Dataset):
    """`length` samples of one split; item i is sample(i, seed, split). For speed, prefer batch() over a DataLoader."""

    def __init__(self, length: int, seed: int = 0, split: str = "train"):
        _check_name("split", split, SPLITS)
        if not 0 < length <= MAX_INDEX:
            raise ValueError(f"length: got {length}; valid values are 1 … {MAX_INDEX}.")
        self.length, self.seed, self.split = length, seed, split

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.length:
            raise IndexError(f"index: got {index}; this dataset has {self.length} samples.")
        return sample(index, self.seed, self.split)
