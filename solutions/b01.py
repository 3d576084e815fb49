"""Lab b01 · Pipeline config reading — your implementations.

Replace each `raise NotImplementedError(...)` with your code, then run `difflab check b01` in a terminal
(or `difflab.check("b01")` in the notebook). The configs are the plain dicts of
`difflab.configs.load_config(model, component)`. The library's own versions live in
lib/difflab/configs/arithmetic.py: try first, then compare.
"""

import torch  # noqa: F401 (param_count needs torch.device("meta"))


def vae_scale_factor(vae_config: dict) -> int:
    """Pixels per latent pixel, per side, of a Stable Diffusion–style VAE.

    vae_config: a VAE config with `block_out_channels`, one entry per resolution level
        (SD 1.5: [128, 256, 512, 512]). Every level but the last ends in a ×2 downsample.
    Returns: an int (8 for SD 1.5).
    """
    # BEGIN SOLUTION: two to the power of (number of levels - 1)
    return 2 ** (len(vae_config["block_out_channels"]) - 1)
    # END SOLUTION


def latent_shape(height: int, width: int, vae_config: dict, frames=None, temporal_factor=None) -> tuple:
    """The shape of the latent a VAE makes of an image or a video, worked out from its config alone.

    image (frames None):  (C, height / f, width / f)
    video:                (C, 1 + (frames - 1) / t, height / f, width / f)
        A causal video VAE encodes the first frame on its own, then every t frames into one latent frame.
    C = vae_config["latent_channels"], f = your vae_scale_factor(vae_config), t = temporal_factor (an int,
    4 for HunyuanVideo, CogVideoX and Wan, 1 for a VAE that encodes every frame alone; the caller passes it).

    Sizes that do not fit raise ValueError with a message that names the argument, the value received and the
    nearest valid values below and above, for example
        "height: got 500; it must be a multiple of 8 (the VAE's spatial factor): use 496 or 504."
    Valid frame counts are 1 + t·k, k ≥ 0 (frames=80 with t=4: use 77 or 81); sizes are positive (0 pixels or
    0 frames: use 8, or 1). A video (frames given) with temporal_factor None is also a ValueError, naming
    temporal_factor.
    Returns: a tuple of ints.
    """
    # BEGIN SOLUTION: validate the sizes (ValueError naming argument, value, valid values), then divide
    f = vae_scale_factor(vae_config)
    for name, value in (("height", height), ("width", width)):
        if value <= 0 or value % f:
            below = value // f * f
            valid = " or ".join(str(v) for v in (below, below + f) if v > 0)
            raise ValueError(
                f"{name}: got {value}; it must be a multiple of {f} (the VAE's spatial factor): use {valid}."
            )
    spatial = (height // f, width // f)  # (H/f, W/f)
    if frames is None:
        return (vae_config["latent_channels"], *spatial)
    if temporal_factor is None:
        raise ValueError(
            f"temporal_factor: got None with frames={frames}; pass the VAE's time compression (4 for Wan, "
            "HunyuanVideo and CogVideoX), or frames=None for an image."
        )
    t = temporal_factor
    if frames < 1 or (frames - 1) % t:
        below = 1 + (frames - 1) // t * t
        valid = " or ".join(str(v) for v in (below, below + t) if v >= 1)
        raise ValueError(f"frames: got {frames}; a causal video VAE takes 1 + {t}·k frames: use {valid}.")
    return (vae_config["latent_channels"], 1 + (frames - 1) // t, *spatial)  # (C, F', H/f, W/f)
    # END SOLUTION


def param_count(model_class, config: dict) -> int:
    """How many parameters `model_class` built from `config` has, found without allocating a single weight.

    Build the model on the meta device (tensors with a shape and no storage: instant, even for 14B parameters)
    and count. `config` is the published dict, which may hold keys the constructor does not take
    (`_class_name`, `_diffusers_version`, …): a class with a `from_config` builds from it and sets those aside;
    other classes take the config as keyword arguments. (`difflab.loading.build_on_meta` does all of this.)
    Returns: the total number of parameter entries, an int (859,520,964 for SD 1.5's UNet).
    """
    # BEGIN SOLUTION: build the model on the meta device (from_config if it has one), then sum numel()
    with torch.device("meta"):
        model = model_class.from_config(config) if hasattr(model_class, "from_config") else model_class(**config)
    return sum(p.numel() for p in model.parameters())
    # END SOLUTION
