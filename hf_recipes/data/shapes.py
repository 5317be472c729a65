"""Synthetic scenes for image captioning: coloured shapes on a plain background, with captions from a small
grammar and test scenes that need attribute combinations never seen in training.

A scene has one or two objects; an object is a shape (circle, square, triangle) of a colour and a size (small,
large) at a position. One object: "a small red circle", "there is a small red circle", "a red circle that is
small". Two: one is above/below or left of/right of the other ("a small red circle above a large blue
square", "a large blue square below a small red circle", ...). Every image comes with all the phrasings its
scene allows (the references of BLEU), and its objects' boxes (to check that attention looks at them).

`HELD_OUT` colour-shape pairs (e.g. a green circle) never occur in the train and validation splits; every test
scene has at least one of them, so a model must compose a colour and a shape it has only seen apart.
Rendering is numpy only, and every scene follows from (split, index, seed): the same data on every machine.
"""

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (230, 200, 30),
    "purple": (140, 60, 180),
}
SHAPES = ("circle", "square", "triangle")
SIZES = {"small": 0.12, "large": 0.2}  # the object's half-width, as a share of the image side
_SQUARE = 0.85  # a square's half-side, as a share of its size: about the area of the circle of that size
_GAP = 0.04  # between the boxes of two objects, as a share of the image side
# Pairs never in train/validation; each colour and each shape still occurs in training with other partners.
HELD_OUT = frozenset({("green", "circle"), ("blue", "triangle"), ("yellow", "square"), ("purple", "circle")})
SPLITS = ("train", "validation", "test")
_SPLIT_SEED = {"train": 0, "validation": 1, "test": 2}


@dataclass(frozen=True)
class ShapeObject:
    shape: str
    colour: str
    size: str
    center: tuple[float, float]  # (x, y) as shares of the image side, y downwards

    def box(self, image_size: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) in pixels, right and bottom exclusive."""
        half = SIZES[self.size] * image_size * (_SQUARE if self.shape == "square" else 1.0)
        x, y = self.center[0] * image_size, self.center[1] * image_size
        return (max(int(x - half), 0), max(int(y - half), 0), min(int(np.ceil(x + half)), image_size),
                min(int(np.ceil(y + half)), image_size))  # fmt: skip

    def phrase(self, with_size: bool = True) -> str:
        return f"a {self.size} {self.colour} {self.shape}" if with_size else f"a {self.colour} {self.shape}"


@dataclass(frozen=True)
class Scene:
    objects: tuple[ShapeObject, ...]
    relation: str | None  # two objects: how the first stands to the second ("above", "left of", ...)
    background: tuple[int, int, int]

    def captions(self) -> list[str]:
        """Every phrasing of the scene the grammar has, the first the canonical one."""
        if len(self.objects) == 1:
            (one,) = self.objects
            return [one.phrase(), f"there is {one.phrase()}", f"{one.phrase(False)} that is {one.size}"]
        first, second = self.objects
        inverse = {"above": "below", "below": "above", "left of": "right of", "right of": "left of"}
        return [
            f"{first.phrase()} {self.relation} {second.phrase()}",
            f"{second.phrase()} {inverse[self.relation]} {first.phrase()}",
            f"there is {first.phrase()} {self.relation} {second.phrase()}",
        ]

    def render(self, image_size: int) -> np.ndarray:
        """The image, (image_size, image_size, 3) uint8."""
        ys, xs = np.mgrid[0:image_size, 0:image_size].astype(np.float64) + 0.5
        image = np.empty((image_size, image_size, 3), dtype=np.uint8)
        image[:] = self.background
        for obj in self.objects:
            image[_mask(obj, xs / image_size, ys / image_size)] = COLOURS[obj.colour]
        return image


def _mask(obj: ShapeObject, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    half = SIZES[obj.size]
    dx, dy = x - obj.center[0], y - obj.center[1]
    if obj.shape == "circle":
        return dx**2 + dy**2 <= half**2
    if obj.shape == "square":
        return (np.abs(dx) <= half * _SQUARE) & (np.abs(dy) <= half * _SQUARE)
    # an upward triangle: base at the bottom of the box, apex at the top
    inside_height = (dy <= half) & (dy >= -half)
    return inside_height & (np.abs(dx) <= (dy + half) / 2)


def _allowed(colour: str, shape: str, split: str) -> bool:
    return split == "test" or (colour, shape) not in HELD_OUT


def scene(split: str, index: int, seed: int = 0) -> Scene:
    """Scene `index` of `split`: drawn from its own random stream, so any scene can be made alone."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r}: one of {', '.join(SPLITS)}")
    rng = np.random.default_rng([seed, _SPLIT_SEED[split], index])
    while True:
        count = int(rng.integers(1, 3))
        kinds = [(str(rng.choice(list(COLOURS))), str(rng.choice(SHAPES))) for _ in range(count)]
        if not all(_allowed(colour, shape, split) for colour, shape in kinds):
            continue
        if split == "test" and not any(kind in HELD_OUT for kind in kinds):
            continue
        if count == 2 and kinds[0] == kinds[1]:
            continue  # two objects that only their size tells apart make ambiguous captions
        sizes = [str(rng.choice(list(SIZES))) for _ in range(count)]
        relation, centers = _layout(rng, sizes)
        objects = tuple(
            ShapeObject(shape, colour, size, center)
            for (colour, shape), size, center in zip(kinds, sizes, centers)
        )
        background = tuple(int(v) for v in rng.integers(200, 256, size=3))
        return Scene(objects, relation, background)


def _layout(rng: np.random.Generator, sizes: list[str]) -> tuple[str | None, list[tuple[float, float]]]:
    """Centres that keep each object inside the image and two objects' boxes apart along the axis of their
    relation (the first object on the side the relation names)."""
    halves = [SIZES[size] for size in sizes]
    if len(sizes) == 1:
        return None, [
            (float(rng.uniform(halves[0], 1 - halves[0])), float(rng.uniform(halves[0], 1 - halves[0])))
        ]
    relation = str(rng.choice(["above", "below", "left of", "right of"]))
    first_low = relation in ("above", "left of")  # the first object nearer the top / the left edge
    low, high = (halves[0], halves[1]) if first_low else (halves[1], halves[0])
    low_center = float(rng.uniform(low, 1 - 2 * high - low - _GAP))
    high_center = float(rng.uniform(low_center + low + high + _GAP, 1 - high))
    along = (low_center, high_center) if first_low else (high_center, low_center)
    across = [float(rng.uniform(h, 1 - h)) for h in halves]
    if relation in ("above", "below"):  # the axis is y
        return relation, [(across[0], along[0]), (across[1], along[1])]
    return relation, [(along[0], across[0]), (along[1], across[1])]


def scenes(split: str, count: int, seed: int = 0) -> Iterator[Scene]:
    return (scene(split, index, seed) for index in range(count))
