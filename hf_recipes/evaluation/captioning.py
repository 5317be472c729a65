"""Where a captioner looks while it writes: each word's attention over the image regions, drawn over the image
(the figure of Show, Attend and Tell), and how much of it falls on the object a word names.

The model captions the image (`generate`, its generation_config), then reads its own caption once more with
teacher forcing and `output_attentions=True`: row t of the weights is the attention that produced word t, one
weight per region of the region_grid × region_grid map, summing to 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import UserError


@dataclass
class CaptionAttention:
    tokens: list[str]  # the generated tokens, end-of-sequence included when it was generated
    weights: np.ndarray  # (tokens, grid, grid); each token's map sums to 1
    caption: str


def pixel_values(images: np.ndarray) -> torch.Tensor:
    """uint8 images, (height, width, 3) or a batch (n, height, width, 3), as `pixel_values` (n, 3, height, width)
    in [-1, 1]: each channel x / 127.5 - 1, what the saved processor's image processor does (mean = std = 0.5)."""
    # the conversion to float copies, so a read-only array (a datasets column) is never shared with torch
    pixels = torch.from_numpy(np.asarray(images, dtype=np.uint8).astype(np.float32))
    if pixels.ndim == 3:
        pixels = pixels[None]
    return pixels.permute(0, 3, 1, 2) / 127.5 - 1.0


def caption_attention(model, tokenizer, pixel_values: torch.Tensor, **generate_kwargs) -> CaptionAttention:
    """Caption one image (`pixel_values` (1, channels, height, width)) and return the attention of each word."""
    if getattr(model.config, "attention", None) != "soft":
        raise UserError(
            f"{model.config.model_type}: attention={getattr(model.config, 'attention', None)!r}: the model does "
            "not attend to regions (Show and Tell sees the image once), there is no map to draw"
        )
    was_training = model.training
    model.eval()
    pixel_values = pixel_values.to(model.device)
    with torch.no_grad():
        generated = model.generate(pixel_values=pixel_values, **generate_kwargs)  # [start, y1, ..., yn]
        outputs = model(
            pixel_values=pixel_values,
            decoder_input_ids=generated[:, :-1],
            output_attentions=True,
            return_dict=True,
        )
    model.train(was_training)
    grid = model.config.region_grid
    weights = outputs.cross_attentions[0][0, 0].float().cpu().numpy().reshape(-1, grid, grid)
    ids = generated[0, 1:].tolist()
    tokens = tokenizer.convert_ids_to_tokens(ids)
    caption = tokenizer.decode(ids, skip_special_tokens=True).strip()
    return CaptionAttention(tokens=tokens, weights=weights, caption=caption)


def mass_in_box(weights: np.ndarray, box: tuple[int, int, int, int], image_size: int) -> tuple[float, float]:
    """(attention mass inside `box`, the box's share of the image): a map (grid, grid) over an image of
    `image_size` pixels a side, each region's weight counted by the share of its cell the box covers. A map
    that ignores the object puts about its area share inside; a grounded one, much more."""
    grid = weights.shape[-1]
    cell = image_size / grid
    left, top, right, bottom = box
    edges = np.arange(grid + 1) * cell
    # the share of each cell's width (height) that lies inside the box's columns (rows)
    across = np.clip(np.minimum(edges[1:], right) - np.maximum(edges[:-1], left), 0, None) / cell
    down = np.clip(np.minimum(edges[1:], bottom) - np.maximum(edges[:-1], top), 0, None) / cell
    mass = float((weights * down[:, None] * across[None, :]).sum())
    return mass, (right - left) * (bottom - top) / image_size**2


def grounding(model, tokenizer, examples, *, limit: int = 200) -> dict[str, float]:
    """Is the attention grounded? Over the first `limit` examples (rows with `pixels`, `boxes`, `names`), caption
    each image and, wherever the caption names an object of the scene by its colour and shape ("red circle"),
    sum the attention of those two words inside the object's box (`mass_in_box`). Returns the mean mass, the
    mean area share of the boxes (what attention that ignores the object would put there) and the words
    counted. A caption that names no object of its scene counts nothing."""
    masses, shares = [], []
    for row in examples.select(range(min(limit, len(examples)))):
        image = np.asarray(row["pixels"], dtype=np.uint8)
        found = caption_attention(model, tokenizer, pixel_values(image))
        words = [token.removeprefix("##").lstrip("Ġ▁").lower() for token in found.tokens]
        objects = {tuple(name.split()[1:]): box for name, box in zip(row["names"], row["boxes"])}
        for position in range(len(words) - 1):
            box = objects.get((words[position], words[position + 1]))
            if box is None:
                continue
            for word in (position, position + 1):
                mass, share = mass_in_box(found.weights[word], tuple(box), image.shape[0])
                masses.append(mass)
                shares.append(share)
    if not masses:
        return {"grounding_mass": float("nan"), "grounding_area_share": float("nan"), "grounding_words": 0}
    return {
        "grounding_mass": float(np.mean(masses)),
        "grounding_area_share": float(np.mean(shares)),
        "grounding_words": len(masses),
    }
