"""Checks for lab b06 (video latent / frame dimension): the learner's arithmetic against difflab's video models.

Where it costs nothing, the expected values are measured, not derived: the Wan2.1 VAE and transformer are built
on the meta device (shapes only, no weights) and run, so the latent and the token grid are what the real classes
produce; the score matrix's bytes are those of a meta tensor of its shape.
"""

import functools

import torch

from ..configs import load_config
from ..loading import build_on_meta
from ..models.wan import WanTransformer3DModel
from ..models.wan_vae import AutoencoderKLWan
from .core import Lab, Wrong
from .expect import describe, expect_value_error

lab = Lab("b06", "Video latent / frame dimension")

WAN = "wan2.1-t2v-1.3b"
DTYPES = {4: torch.float32, 2: torch.bfloat16, 1: torch.float8_e4m3fn}  # bytes per element → a dtype that size


@functools.cache
def wan_vae() -> AutoencoderKLWan:
    return build_on_meta(AutoencoderKLWan, load_config(WAN, "vae"))


@functools.cache
def wan_transformer(patch_size: tuple) -> WanTransformer3DModel:
    return build_on_meta(WanTransformer3DModel, {**load_config(WAN, "transformer"), "patch_size": list(patch_size)})


def measured_latent(frames: int, height: int, width: int) -> tuple:
    """Encode a meta video with the Wan2.1 VAE: the latent's (C, F', H', W') as the real class makes it."""
    video = torch.empty(1, 3, frames, height, width, device="meta")
    return tuple(wan_vae().encode(video).latent_dist.mean.shape[1:])


def measured_tokens(latent: tuple, patch: tuple) -> int:
    """Run the Wan2.1 transformer's patch embedding (a Conv3d, kernel = stride = patch) on a meta latent."""
    grid = wan_transformer(patch).patch_embedding(torch.empty(1, *latent, device="meta")).shape[2:]  # (F', H', W')
    return grid.numel()


def measured_score_bytes(tokens: int, heads: int, nbytes: int, batch: int) -> int:
    """The bytes of a (batch, heads, tokens, tokens) tensor of `nbytes`-byte elements (on meta: nothing allocated)."""
    scores = torch.empty(batch, heads, tokens, tokens, dtype=DTYPES[nbytes], device="meta")
    return scores.numel() * scores.element_size()


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def shown(function: str, *args, **kwargs) -> str:
    """The call as messages show it: video_latent_shape(81, 480, 832, temporal=8)."""
    return f"{function}(" + ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())]) + ")"


# ── video_latent_shape ──────────────────────────────────────────────────────────────────────────────────────


def call_fitting(m, args: tuple, kwargs: dict):
    """The learner's video_latent_shape on sizes that fit: a ValueError here refuses a valid video."""
    try:
        return m.video_latent_shape(*args, **kwargs)
    except ValueError as e:
        raise Wrong(
            f"{shown('video_latent_shape', *args, **kwargs)} raised ValueError({str(e)!r}), but these sizes fit: "
            "check your test. Valid counts are 1 + temporal·k, so (num_frames - 1) % temporal == 0 "
            "(1 frame is valid: a still image)."
        ) from None


def expect_latent(got, expected: tuple, call: str, num_frames: int, temporal: int, spatial: int):
    if not isinstance(got, tuple) or len(got) != 4 or not all(map(is_int, got)):
        raise Wrong(f"{call} should return a tuple of four ints (C, F', H', W'), got {describe(got)}.")
    if got == expected:
        return
    hint = ""
    if got[1] == num_frames // temporal != expected[1]:
        hint = (
            f" The latent frame count is off by one: a causal VAE encodes the first frame alone, then {temporal} "
            f"frames per latent frame, so F' = 1 + ({num_frames} - 1) // {temporal} = {expected[1]}."
        )
    elif got[2:] == (expected[2] // 2, expected[3] // 2):
        hint = (
            f" H' and W' are half what they should be: the VAE shrinks each side {spatial}×; the ×{2 * spatial} "
            "is the token grid (VAE × the transformer's 2×2 patch), which num_tokens applies, not the latent."
        )
    elif got[2:] == expected[:1:-1]:
        hint = " Height and width are swapped: the latent keeps the video's (H, W) order."
    raise Wrong(f"{call}: expected {expected}, got {got}.{hint}")


def expect_refused(m, args: tuple, kwargs: dict, words: list[str], why: str):
    expect_value_error(
        lambda: m.video_latent_shape(*args, **kwargs),
        shown("video_latent_shape", *args, **kwargs),
        words,
        should_name=f"the argument, the value and the nearest valid values ({', '.join(words)})",
        why=why,
    )


@lab.task(
    "video_latent_shape",
    hint="check num_frames first: (num_frames - 1) % temporal must be 0; then "
    "(z_dim, 1 + (num_frames - 1) // temporal, height // spatial, width // spatial).",
)
def check_video_latent_shape(m):
    # Wan2.1's own VAE, run on the meta device: what the real class makes of each video.
    for frames, height, width in [(81, 480, 832), (17, 64, 64), (1, 480, 832), (81, 720, 1280)]:
        got = call_fitting(m, (frames, height, width), {})
        expected = measured_latent(frames, height, width)
        expect_latent(got, expected, shown("video_latent_shape", frames, height, width), frames, 4, 8)
    frames_why = "a causal video VAE takes 1 + temporal·k frames"
    for frames, below in [(16, 13), (80, 77), (18, 17), (19, 17)]:
        expect_refused(m, (frames, 480, 832), {}, ["num_frames", str(frames), str(below), str(below + 4)], frames_why)
    expect_refused(m, (0, 64, 64), {}, ["num_frames", "0", "1", "5"], "no frames at all")
    # Other video VAEs, by their factors: (frames, H, W, z_dim, temporal, spatial).
    others = [
        (49, 480, 720, 16, 4, 8),  # CogVideoX
        (121, 704, 1280, 48, 4, 16),  # Wan2.2 TI2V-5B's VAE: 16× per side, 48 channels
        (161, 512, 768, 128, 8, 32),  # LTX-Video: 8× in time, 32× per side
        (14, 576, 1024, 4, 1, 8),  # Stable Video Diffusion: an image VAE, every frame its own latent
        (33, 128, 128, 16, 4, 8),
    ]
    for frames, height, width, z_dim, temporal, spatial in others:
        kwargs = dict(z_dim=z_dim, temporal=temporal, spatial=spatial)
        got = call_fitting(m, (frames, height, width), kwargs)
        expected = (z_dim, 1 + (frames - 1) // temporal, height // spatial, width // spatial)
        call = shown("video_latent_shape", frames, height, width, **kwargs)
        expect_latent(got, expected, call, frames, temporal, spatial)
    expect_refused(m, (12, 64, 64), {"temporal": 8}, ["num_frames", "12", "9", "17"], frames_why + " (temporal 8)")
    expect_refused(m, (81, 500, 832), {}, ["height", "500"], "500 pixels is not a multiple of 8")
    expect_refused(m, (81, 480, 830), {}, ["width", "830"], "830 pixels is not a multiple of 8")
    expect_refused(m, (17, 0, 64), {}, ["height", "0"], "a video 0 pixels high")


# ── num_tokens ──────────────────────────────────────────────────────────────────────────────────────────────


@lab.task(
    "num_tokens",
    hint="unpack (C, F', H', W'), ignore C, and return (F' // p_t) * (H' // p_h) * (W' // p_w).",
)
def check_num_tokens(m):
    cases = [  # (latent, patch): Wan2.1 at 480×832 and 720×1280, the course's clip, a still, a (2, 2, 2) patch
        ((16, 21, 60, 104), (1, 2, 2)),
        ((16, 21, 90, 160), (1, 2, 2)),
        ((16, 5, 8, 8), (1, 2, 2)),
        ((16, 1, 128, 128), (1, 2, 2)),
        ((16, 8, 60, 90), (2, 2, 2)),
        ((16, 21, 60, 104), (1, 1, 1)),
    ]
    for latent, patch in cases:
        call = f"num_tokens({latent}, patch_size={patch})"
        got = m.num_tokens(latent) if patch == (1, 2, 2) else m.num_tokens(latent, patch)
        expected = measured_tokens(latent, patch)
        if not is_int(got):
            raise Wrong(f"{call} should return an int, got {describe(got)}.")
        if got == expected:
            continue
        channels, frames, height, width = latent
        hint = ""
        if got == frames * height * width:
            hint = (
                f" That is one token per latent pixel: each token is one {'×'.join(map(str, patch))} patch of "
                "latent pixels, so divide each axis by its patch side."
            )
        elif got == channels * expected:
            hint = (
                f" That is {channels}× too many: the {channels} channels are each token's input features (the "
                "patch embedding reads them all), not more tokens. Leave C out of the product."
            )
        raise Wrong(f"{call}: expected {expected:,}, got {got:,}.{hint}")


# ── attention_bytes ─────────────────────────────────────────────────────────────────────────────────────────


@lab.task(
    "attention_bytes",
    hint="one tokens × tokens score matrix per head and per sample: batch * heads * tokens**2 * bytes_per_element.",
)
def check_attention_bytes(m):
    cases = [  # (tokens, heads, bytes per element, batch)
        (32_760, 12, 2, 1),  # Wan2.1-1.3B, 81×480×832, bf16: one layer
        (75_600, 40, 2, 1),  # Wan2.1-14B, 81×720×1280, bf16
        (80, 6, 4, 1),  # the course's tiny video transformer, 17 frames of 64×64, float32
        (4_096, 24, 2, 2),  # FLUX-sized image attention with batched guidance: two samples
        (1_000, 8, 1, 3),  # fp8, three samples
    ]
    for tokens, heads, nbytes, batch in cases:
        call = f"attention_bytes({tokens}, heads={heads}, bytes_per_element={nbytes}, batch={batch})"
        got = (
            m.attention_bytes(tokens, heads, nbytes, batch) if batch != 1 else m.attention_bytes(tokens, heads, nbytes)
        )
        expected = measured_score_bytes(tokens, heads, nbytes, batch)
        if not is_int(got) and not (isinstance(got, float) and got.is_integer()):
            raise Wrong(f"{call} should return a whole number of bytes (an int), got {describe(got)}.")
        if got == expected:
            continue
        hint = ""
        if got * tokens == expected:
            hint = " Self-attention scores every (query, key) pair: tokens × tokens entries, not tokens."
        elif got * heads == expected:
            hint = f" Each of the {heads} heads has its own score matrix: multiply by heads."
        elif got * batch == expected:
            hint = f" Each of the {batch} samples in the batch has its own scores: multiply by batch."
        elif got == 8 * expected:
            hint = " That is bits: bytes_per_element is already in bytes."
        raise Wrong(f"{call}: expected {expected:,} bytes, got {got:,}.{hint}")
