"""Checks for lab b01 (pipeline config reading): the learner's functions against difflab.configs and difflab.models."""

import torch

from ..configs import arithmetic, load_config
from ..loading import build_on_meta
from ..models import AutoencoderKL, UNet2DConditionModel
from .core import Lab, Wrong
from .expect import call_keeping_inputs, describe, expect_dict_unchanged, expect_value, expect_value_error, snapshot

lab = Lab("b01", "Pipeline config reading")


def with_levels(vae_config: dict, levels: int) -> dict:
    """The same VAE with only its first `levels` resolution levels (a smaller, equally valid AutoencoderKL)."""
    keys = ("block_out_channels", "down_block_types", "up_block_types")
    return {**vae_config, **{k: vae_config[k][:levels] for k in keys}}


def measured_scale_factor(vae_config: dict) -> int:
    """Encode a 64×64 meta image with difflab's AutoencoderKL and divide: the factor, measured rather than derived."""
    vae = build_on_meta(AutoencoderKL, vae_config)
    latent = vae.encode(torch.empty(1, 3, 64, 64, device="meta")).latent_dist.mean  # (1, C, 64/f, 64/f)
    return 64 // latent.shape[-1]


def expect_int(got, expected: int, what: str):
    if isinstance(got, bool) or not isinstance(got, int):
        raise Wrong(f"{what} should return a Python int, got {describe(got)}.")
    expect_value(got, expected, what, atol=0)


@lab.task("vae_scale_factor", hint="each level but the last halves H and W: 2 ** (len(block_out_channels) - 1).")
def check_vae_scale_factor(m):
    sd15 = load_config("sd15", "vae")
    cases = [(f"{name} vae", load_config(name, "vae")) for name in ("sd15", "sdxl", "sd3-medium", "flux1-dev")]
    cases += [(f"sd15 vae cut to {n} levels", with_levels(sd15, n)) for n in (3, 2, 1)]
    for what, config in cases:
        got = call_keeping_inputs(m.vae_scale_factor, {"vae_config": config}, f"vae_scale_factor({what})")
        expect_int(got, measured_scale_factor(config), f"vae_scale_factor({what})")
    for name in ("hunyuanvideo", "cogvideox-5b"):  # video VAEs with block_out_channels: 8× per side too
        config = load_config(name, "vae")
        expect_int(m.vae_scale_factor(config), arithmetic.spatial_factor(config), f"vae_scale_factor({name} vae)")


def shown_call(height: int, width: int, kwargs: dict) -> str:
    """The latent_shape call as messages show it."""
    return f"latent_shape({height}, {width}, vae_config" + "".join(f", {k}={v!r}" for k, v in kwargs.items()) + ")"


def call(m, height: int, width: int, vae_config: dict, **kwargs):
    """The learner's latent_shape(...), and the call as messages show it; vae_config must not change."""
    shown = shown_call(height, width, kwargs)
    before = snapshot(vae_config)
    got = m.latent_shape(height, width, vae_config, **kwargs)
    expect_dict_unchanged(before, vae_config, "vae_config", shown)
    return got, shown


def call_fitting(m, height: int, width: int, vae_config: dict, **kwargs):
    """call(...) with sizes that fit: a ValueError here is the learner's test of the sizes refusing a valid one."""
    try:
        return call(m, height, width, vae_config, **kwargs)
    except ValueError as e:
        raise Wrong(
            f"{shown_call(height, width, kwargs)} raised ValueError({str(e)!r}), but these sizes fit: check the test "
            "that refuses them "
            "(with temporal_factor 1 every frame count from 1 up fits; 1 + t·k frames leave (frames - 1) % t == 0)."
        ) from None


def expect_shape(got, expected: tuple, what: str, frames=None, t=None):
    if not isinstance(got, tuple) or not all(isinstance(n, int) and not isinstance(n, bool) for n in got):
        raise Wrong(f"{what} should return a tuple of ints, got {describe(got)}.")
    if tuple(got) != expected:
        hint = ""
        if frames is not None and len(got) == len(expected) and got[1] == frames // t != expected[1]:
            hint = " The latent frame count is off by one: a causal VAE encodes the first frame alone."
        raise Wrong(f"{what}: expected {expected}, got {tuple(got)}.{hint}")


def expect_refused(m, height: int, width: int, vae_config: dict, kwargs: dict, words: list[str]):
    """latent_shape(...) must raise ValueError whose message contains every one of `words`."""
    expect_value_error(
        lambda: call(m, height, width, vae_config, **kwargs)[0],
        shown_call(height, width, kwargs),
        words,
        should_name=f"the argument, the value and the nearest valid values ({', '.join(words)})",
        why="a size the VAE cannot encode",
    )


@lab.task(
    "latent_shape",
    hint="check the sizes first; then (C, H // f, W // f), with 1 + (frames - 1) // t inserted after C for a video.",
)
def check_latent_shape(m):
    images = [("sd15", 512, 512), ("sdxl", 1024, 1024), ("sd3-medium", 1024, 1024), ("flux1-dev", 1024, 768)]
    for name, height, width in images:
        vae = load_config(name, "vae")
        got, what = call_fitting(m, height, width, vae)
        expect_shape(got, arithmetic.latent_shape(vae, height, width), f"{what} for {name}")
    # HunyuanVideo's VAE compresses like Wan's (16 channels, 4× in time, 8× per side): 81×480×832 is Wan's example.
    videos = [("hunyuanvideo", 129, 720, 1280), ("cogvideox-5b", 49, 480, 720), ("hunyuanvideo", 81, 480, 832)]
    for name, frames, height, width in videos:
        vae = load_config(name, "vae")
        got, what = call_fitting(m, height, width, vae, frames=frames, temporal_factor=4)
        expected = arithmetic.latent_shape(vae, height, width, frames)
        expect_shape(got, expected, f"{what} for {name}", frames=frames, t=4)
    video = load_config("hunyuanvideo", "vae")
    got, what = call_fitting(m, 480, 832, video, frames=1, temporal_factor=4)  # one frame: a still, for a video model
    expect_shape(got, (16, 1, 60, 104), f"{what} for hunyuanvideo", frames=1, t=4)
    # Stable Video Diffusion encodes frame by frame with an SD-style VAE: no time compression, t = 1.
    sd15 = load_config("sd15", "vae")
    got, what = call_fitting(m, 576, 1024, sd15, frames=14, temporal_factor=1)
    expect_shape(got, (4, 14, 72, 128), f"{what} (Stable Video Diffusion: every frame its own latent)")
    expect_refused(m, 500, 512, sd15, {}, ["height", "500", "496", "504"])
    expect_refused(m, 480, 830, video, {"frames": 81, "temporal_factor": 4}, ["width", "830", "824", "832"])
    expect_refused(m, 480, 832, video, {"frames": 80, "temporal_factor": 4}, ["frames", "80", "77", "81"])
    expect_refused(m, 480, 832, video, {"frames": 81}, ["temporal_factor"])
    expect_refused(m, 0, 512, sd15, {}, ["height", "0", "8"])  # a multiple of 8, but no image
    expect_refused(m, 576, 1024, sd15, {"frames": 0, "temporal_factor": 1}, ["frames", "0", "1"])  # not "an image"


class Probe(torch.nn.Module):
    """A stand-in model that notes the device its weights were created on in the list `created_on`.

    The list travels inside the config (the learner's param_count passes it on with **config), so it comes
    back from the learner's process with the note in it."""

    def __init__(self, width: int = 3, depth: int = 2, created_on: list | None = None):
        super().__init__()
        self.layers = torch.nn.ModuleList(torch.nn.Linear(width, width) for _ in range(depth))
        self.register_buffer("scale", torch.ones(width))  # state, not a parameter (like BatchNorm's running mean)
        if created_on is not None:
            created_on.append(self.layers[0].weight.device.type)


@lab.task(
    "param_count",
    hint="inside `with torch.device('meta'):` build model_class.from_config(config) when the class has one, else "
    "model_class(**config); then sum(p.numel() for p in model.parameters()).",
)
def check_param_count(m):
    config = {"width": 5, "depth": 3, "created_on": []}
    got = m.param_count(Probe, config)
    if got == 2 * 3:
        raise Wrong(
            "param_count(Probe, width=5, depth=3) gave 6, the number of parameter tensors (a weight and a bias per "
            "layer); count their entries: sum(p.numel() for p in model.parameters())."
        )
    if got == 3 * (5 * 5 + 5) + 5:
        raise Wrong(
            "param_count(Probe, width=5, depth=3) gave 95, which counts the model's buffer `scale` (5 entries) as "
            "well: a buffer is state, not a parameter. Sum over model.parameters(), not model.state_dict()."
        )
    expect_int(got, 3 * (5 * 5 + 5), "param_count(Probe, width=5, depth=3)")
    created_on = config["created_on"]
    if created_on and created_on[-1] != "meta":
        raise Wrong(
            f"param_count built the model with its weights on {created_on[-1]}: build it on the meta device, so "
            "that counting a 14B-parameter model allocates nothing."
        )
    cases = [
        (UNet2DConditionModel, "sd15", "unet"),
        (AutoencoderKL, "sd15", "vae"),
        (AutoencoderKL, "flux1-dev", "vae"),
    ]
    for model_class, name, component in cases:
        config = load_config(name, component)
        expected = arithmetic.meta_param_count(model_class, config)
        what = f"param_count({model_class.__name__}, {name} {component})"
        try:
            got = call_keeping_inputs(m.param_count, {"model_class": model_class, "config": config}, what)
        except TypeError as e:  # model_class(**config): the constructor refuses the config's bookkeeping keys
            if "unexpected" not in str(e):
                raise
            raise Wrong(
                f"{what} raised TypeError ({str(e)[:100]}…): the published config holds keys the constructor does "
                f"not take ({', '.join(k for k in config if k.startswith('_'))}). Build with "
                "model_class.from_config(config), which sets them aside, when the class has one."
            ) from None
        expect_int(got, expected, what)
