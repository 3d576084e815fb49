"""The shapes judge: a small CNN that reads colour, shape, size and position off a 64×64 shapes-world image.

It is trained on the dataset's own attributes (difflab train judge) and used to score generated images:
if the judge says "red circle on the left" for the prompt "a red circle on the left", the model followed it.
"""

import json
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from ..data import shapes
from ..loading import build_on_meta, load_into, read_state_dict
from ..loading.folders import read_config

HEADS = {
    "color": tuple(shapes.COLORS),
    "shape": shapes.SHAPES,
    "size": tuple(shapes.SIZES),
    "position": shapes.POSITIONS,
}


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    """3×3 conv (stride 2 halves H and W) → GroupNorm → SiLU."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.GroupNorm(8, c_out), nn.SiLU())


class ShapesJudge(nn.Module):
    def __init__(self, width: int = 32):
        super().__init__()
        self.config = {"width": width}
        self.features = nn.Sequential(  # (B, 3, 64, 64) → (B, 4w, 4, 4): coarse enough to keep *where* things are
            conv_block(3, width),
            conv_block(width, 2 * width),
            conv_block(2 * width, 4 * width),
            conv_block(4 * width, 4 * width),
        )
        self.heads = nn.ModuleDict({name: nn.Linear(4 * width * 16, len(labels)) for name, labels in HEADS.items()})

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """images (B, 3, 64, 64) in [-1, 1] → logits per attribute, e.g. {"color": (B, 7), …}."""
        features = self.features(images).flatten(1)  # (B, 4w·4·4)
        return {name: head(features) for name, head in self.heads.items()}

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> list[dict]:
        """The most likely label of each attribute, per image."""
        logits = self(images)
        labels = {name: [HEADS[name][i] for i in logits[name].argmax(1).tolist()] for name in HEADS}
        return [{name: labels[name][i] for name in HEADS} for i in range(len(images))]

    def save_pretrained(self, folder):
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text(json.dumps({"_class_name": "ShapesJudge", **self.config}, indent=2))
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(folder / "model.safetensors"))

    @classmethod
    def from_pretrained(cls, folder) -> "ShapesJudge":
        """Through the course's all-or-nothing loading path (lab b02): checked header, keys, shapes and dtypes."""
        width = read_config(Path(folder))["width"]
        if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= 1024:
            raise ValueError(f"width: got {width!r} in {Path(folder) / 'config.json'}; valid values are 1 … 1024.")
        return load_into(build_on_meta(cls, {"width": width}), read_state_dict(Path(folder) / "model.safetensors"))


def targets(attributes: list[dict]) -> dict[str, torch.Tensor]:
    """Class indices per attribute for a batch of dataset attributes."""
    return {name: torch.tensor([labels.index(a[name]) for a in attributes]) for name, labels in HEADS.items()}


@torch.no_grad()
def accuracy(judge: ShapesJudge, n: int = 1000, seed: int = 3) -> dict[str, float]:
    """Per-attribute accuracy on held-out (test split) images."""
    data = shapes.batch(n, seed=seed, split="test")
    logits, truth = judge.eval()(data["image"]), targets(data["attributes"])
    return {name: (logits[name].argmax(1) == truth[name]).float().mean().item() for name in HEADS}
