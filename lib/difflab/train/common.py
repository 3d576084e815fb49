"""What every trainer shares: seeds, a cosine learning-rate schedule, resumable checkpoints, a progress bar."""

import json
import math
import random
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm


def seed_everything(seed: int):
    random.seed(seed)
    torch.manual_seed(seed)


def cosine_lr(step: int, total: int, base: float, warmup: int = 50) -> float:
    """Linear warm-up to `base`, then cosine decay to 5% of it by the last step."""
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


class Checkpoint:
    """A training run's folder: model weights (safetensors), optimizer state and the step, saved together.

    The optimizer state is our own file, read back with torch.load(weights_only=True), which refuses code.
    """

    def __init__(self, folder):
        self.folder = Path(folder)

    def save(self, step: int, models: dict, optimizer, log: list):
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, model in models.items():
            state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
            save_file(state, str(self.folder / f"{name}.safetensors"))
        torch.save(optimizer.state_dict(), self.folder / "optimizer.pt")
        (self.folder / "state.json").write_text(json.dumps({"step": step, "log": log}, indent=1))

    def load(self, models: dict, optimizer) -> tuple[int, list]:
        """Restore the last save (if any); returns (next step, log so far)."""
        state_file = self.folder / "state.json"
        if not state_file.exists():
            return 0, []
        for name, model in models.items():
            model.load_state_dict(load_file(str(self.folder / f"{name}.safetensors")))
        optimizer.load_state_dict(torch.load(self.folder / "optimizer.pt", weights_only=True))
        state = json.loads(state_file.read_text())
        return state["step"], state["log"]


def progress(total: int, start: int, desc: str):
    return tqdm(total=total, initial=start, desc=desc, mininterval=5.0, dynamic_ncols=True)


class Stopwatch:
    def __init__(self, already: float = 0.0):
        self.start, self.already = time.perf_counter(), already

    @property
    def seconds(self) -> float:
        return self.already + time.perf_counter() - self.start
