"""Argument checks shared by the pipelines: each error names the argument, what came in, what is valid, the fix.

Every pipeline runs these before its first model call or large allocation, so a bad argument costs a millisecond,
not a generation. Whole numbers may be Python ints or NumPy integers (np.int64 from a sweep); bools are refused
even though Python counts them as ints. Real numbers may also be NumPy floats.
"""

import math
import warnings

import numpy as np
import torch

# Classifier-free guidance adds w·(ε̂_text - ε̂_uncond) to a unit-variance prediction. Images stop improving
# around w ≈ 5–15 and saturate past ≈ 30; 100 leaves sweeps room to show that, and refuses values such as
# 1e30 that can only overflow (past 65,504 in float16; NaN latents, a black image, in float32).
GUIDANCE_MAX = 100.0
CFG_MODES = ("batched", "two_pass")
OUTPUT_TYPES = ("pil", "np", "pt", "latent")


def is_whole(value) -> bool:
    """An int or a NumPy integer, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value) -> bool:
    """An int or float, Python or NumPy, not a bool (NaN and ±inf included: check_finite refuses those)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def check_size(name: str, value, factor: int) -> int:
    if not is_whole(value) or value <= 0 or value % factor:
        lower = max(factor, (int(value) // factor) * factor) if is_whole(value) else factor
        raise ValueError(
            f"{name}: got {value!r}; valid values are positive multiples of {factor} (the VAE shrinks images "
            f"{factor}× per side, so the latent grid needs whole cells). Try {lower} or {lower + factor}."
        )
    return int(value)


def check_steps(num_inference_steps, num_train_timesteps: int, name: str = "num_inference_steps") -> int:
    if not is_whole(num_inference_steps) or num_inference_steps < 1:
        raise ValueError(
            f"{name}: got {num_inference_steps!r}; valid values are whole numbers 1 … {num_train_timesteps}. "
            "20–50 is typical."
        )
    if num_inference_steps > num_train_timesteps:
        raise ValueError(
            f"{name}: got {num_inference_steps}; the model was trained with {num_train_timesteps} timesteps, so at "
            f"most {num_train_timesteps} steps make sense."
        )
    return int(num_inference_steps)


def check_count(name: str, value) -> int:
    """A positive whole number of things (num_images_per_prompt)."""
    if not is_whole(value) or value < 1:
        raise ValueError(f"{name}: got {value!r}; valid values are whole numbers ≥ 1, e.g. 1 or 4.")
    return int(value)


def check_real(name: str, value, low: float, high: float, advice: str) -> float:
    """A finite real number in [low, high]; NaN and ±inf are refused by name."""
    if not is_real(value) or not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{name}: got {value!r}; valid values are finite numbers {low:g} … {high:g}. {advice}")
    return float(value)


def check_guidance(guidance_scale, name: str = "guidance_scale") -> float:
    return check_real(
        name,
        guidance_scale,
        0,
        GUIDANCE_MAX,
        "Values ≤ 1 switch classifier-free guidance off; 3–8 is typical.",
    )


def check_guidance_rescale(guidance_rescale) -> float:
    return check_real(
        "guidance_rescale",
        guidance_rescale,
        0,
        1,
        "It is φ in rescale_noise_cfg: 0 is plain guidance (the default), 1 is fully rescaled; Lin et al. use 0.7.",
    )


def check_guidance_interval(guidance_interval) -> tuple[float, float] | None:
    """None (guide every step) or (start, end): fractions of the denoising steps with 0 ≤ start < end ≤ 1."""
    if guidance_interval is None:
        return None
    pair = isinstance(guidance_interval, (tuple, list)) and len(guidance_interval) == 2
    if not (pair and all(is_real(v) and math.isfinite(v) for v in guidance_interval)):
        raise ValueError(
            f"guidance_interval: got {guidance_interval!r}; valid values are None (guide every step) or a pair "
            "(start, end) of fractions of the denoising steps, 0 ≤ start < end ≤ 1. Fix: e.g. (0.2, 0.8)."
        )
    start, end = (float(v) for v in guidance_interval)
    if not 0 <= start < end <= 1:
        raise ValueError(
            f"guidance_interval: got ({start:g}, {end:g}); valid values need 0 ≤ start < end ≤ 1 (fractions of the "
            "denoising steps; guidance runs at the steps i with start ≤ i/N < end). Fix: e.g. (0.2, 0.8), or None "
            "to guide every step."
        )
    return start, end


def check_strength(strength) -> float:
    return check_real("strength", strength, 0, 1, "0 keeps the input image, 1 ignores it; 0.5–0.8 is typical.")


def check_eta(eta) -> float:
    return check_real("eta", eta, 0, 1, "DDIM's noise weight: 0 is deterministic DDIM, 1 is DDPM-like sampling.")


def check_seed(seed, name: str = "seed") -> int:
    """A seed torch.Generator.manual_seed takes: a whole number 0 … 2⁶⁴ - 1."""
    if not is_whole(seed) or not 0 <= seed < 2**64:
        raise ValueError(f"{name}: got {seed!r}; valid values are whole numbers 0 … 2**64 - 1, e.g. 0 or 1234.")
    return int(seed)


def check_choice(name: str, value, valid: tuple):
    if not isinstance(value, str) or value not in valid:
        raise ValueError(f"{name}: got {value!r}; valid values are {', '.join(map(repr, valid))}.")
    return value


def check_callback(callback):
    if callback is not None and not callable(callback):
        raise ValueError(
            f"callback: got an object of type {type(callback).__name__}; pass None or a function "
            "callback(i, t, x, x0) that returns None (or a tensor to replace x)."
        )


def check_generator(generator, batch_size: int):
    """None, one torch.Generator, or a list of batch_size of them (one per image, as diffusers), all on the CPU.

    difflab draws its noise on the CPU and then moves it, so that a seed gives the same image on every device;
    a CUDA generator cannot draw CPU noise.
    """
    if generator is None:
        return None
    if isinstance(generator, list) and len(generator) != batch_size:
        raise ValueError(
            f"generator: got a list of {len(generator)} generators for {batch_size} images (prompts × "
            "num_images_per_prompt); pass one torch.Generator, or a list with one per image."
        )
    for g in generator if isinstance(generator, list) else [generator]:
        if not isinstance(g, torch.Generator):
            raise ValueError(
                f"generator: got an object of type {type(g).__name__}; valid values are None, a torch.Generator or "
                "a list of them (one per image). Fix: torch.Generator().manual_seed(0)."
            )
        if g.device.type != "cpu":
            raise ValueError(
                f"generator: got a torch.Generator on {g.device}; difflab draws noise on the CPU (so that a seed gives "
                "the same image on every device) and moves it to the pipeline's device. Fix: pass "
                "torch.Generator().manual_seed(seed), which is a CPU generator."
            )
    return generator


def check_latents(latents, shape: tuple):
    """Optional starting noise x_T: a floating-point tensor of exactly `shape`, with no NaN or inf."""
    if latents is None:
        return None
    if not isinstance(latents, torch.Tensor) or not latents.is_floating_point():
        got = f"a tensor of {latents.dtype}" if isinstance(latents, torch.Tensor) else type(latents).__name__
        raise ValueError(f"latents: got {got}; pass None or a float tensor of shape {shape}.")
    if tuple(latents.shape) != shape:
        raise ValueError(f"latents: got shape {tuple(latents.shape)}; for these arguments it must be {shape}.")
    if not bool(torch.isfinite(latents).all()):
        raise ValueError("latents: got a tensor with NaN or inf values; pass finite noise, e.g. torch.randn(shape).")
    return latents


def prompts_as_list(prompt, negative_prompt) -> tuple[list[str], list[str]]:
    """Both prompts as lists of equal length ('' for a missing negative prompt)."""
    if isinstance(prompt, str):
        prompt = [prompt]
    if not isinstance(prompt, list) or not prompt or not all(isinstance(p, str) for p in prompt):
        raise ValueError(f"prompt: got {prompt!r}; pass a string or a non-empty list of strings.")
    if negative_prompt is None:
        negative_prompt = [""] * len(prompt)
    elif isinstance(negative_prompt, str):
        negative_prompt = [negative_prompt] * len(prompt)
    if not isinstance(negative_prompt, list) or not all(isinstance(p, str) for p in negative_prompt):
        raise ValueError(f"negative_prompt: got {negative_prompt!r}; pass None, a string or a list of strings.")
    if len(negative_prompt) != len(prompt):
        raise ValueError(
            f"negative_prompt: got {len(negative_prompt)} negative prompts for {len(prompt)} prompts; pass one "
            "negative prompt per prompt, or a single string to use for all."
        )
    return prompt, list(negative_prompt)


def warn_if_truncated(tokenizer, texts: dict[str, list[str]]):
    """One warning for all the texts longer than the tokenizer's limit (CLIP: 77 tokens, BOS and EOS included).

    `texts` maps an argument name to its prompts ({"prompt": [...], "negative_prompt": [...]}). As in diffusers, the
    warning says what was cut: the tokens from position limit - 1 on, decoded back to text (its start, if long).
    """
    limit, cuts = tokenizer.model_max_length, []
    for name, prompts in texts.items():
        for text in dict.fromkeys(prompts):  # each distinct text once
            ids = tokenizer(text, truncation=False, verbose=False).input_ids  # [BOS, …text…, EOS]
            if len(ids) > limit:
                dropped = tokenizer.decode(ids[limit - 1 : -1])
                shown = dropped if len(dropped) <= 80 else dropped[:80] + "…"
                cuts.append(f"{name}: {len(ids) - limit} tokens dropped, {shown!r}")
    if cuts:
        warnings.warn(
            f"the text encoder reads at most {limit} tokens, so the end of a prompt was cut ({'; '.join(cuts)}). "
            "Shorten the prompt to keep what it says.",
            stacklevel=3,
        )
