"""Train the shapes judge: cross-entropy on each attribute head, on freshly generated training images."""

import torch

from ..data import shapes
from ..eval.judge import HEADS, ShapesJudge, accuracy, targets
from .common import cosine_lr, progress, seed_everything


def train_judge(steps: int = 1500, batch_size: int = 64, lr: float = 2e-3, seed: int = 0) -> tuple[ShapesJudge, dict]:
    seed_everything(seed)
    judge = ShapesJudge()
    optimizer = torch.optim.AdamW(judge.parameters(), lr=lr, weight_decay=1e-4)
    bar = progress(steps, 0, "judge")
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step, steps, lr)
        data = shapes.batch(range(step * batch_size, (step + 1) * batch_size), seed=seed + 100)
        images = data["image"] + 0.05 * torch.randn(
            data["image"].shape
        )  # a little noise: generated images are not clean
        logits, truth = judge(images), targets(data["attributes"])
        loss = sum(torch.nn.functional.cross_entropy(logits[name], truth[name]) for name in HEADS)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    bar.close()
    return judge.eval(), accuracy(judge)
