"""Where tensors go: CUDA when it is there, the CPU otherwise; fp32 unless asked."""

import torch


def default_device() -> torch.device:
    """cuda:0 if a GPU is visible, else cpu (override with the DIFFLAB_DEVICE environment variable)."""
    import os

    if os.environ.get("DIFFLAB_DEVICE"):
        return torch.device(os.environ["DIFFLAB_DEVICE"])
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
