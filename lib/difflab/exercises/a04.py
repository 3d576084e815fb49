"""Checks for lab a04 (CFG code reading): the learner's functions against TextToImagePipeline's own guidance."""

import functools
from types import SimpleNamespace

import torch

from .. import schedulers
from ..loading.folders import load_model_folder, read_config
from ..models import UNet2DConditionModel
from ..pipelines.text_to_image import TextToImagePipeline, cfg_combine, rescale_noise_cfg
from ..pretrained import weights_folder
from ..sampling import sample_loop
from .core import Lab, Wrong
from .expect import describe, expect_inputs_unchanged, expect_tensor

lab = Lab("a04", "CFG code reading")


def noise_pair(shape, seed: int):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g)


@lab.task(
    "cfg_combine",
    hint="ε̂_u + w·(ε̂_c − ε̂_u): guidance_scale = 0 must give noise_uncond back, and 1 must give noise_text.",
)
def check_cfg_combine(m):
    # (B, 4, h, w) as the pipeline's UNet returns; then batch 1, and an odd shape
    cases = [((2, 4, 8, 8), w) for w in (0.0, 1.0, 3.0, 7.5)] + [((1, 4, 8, 8), 7.5), ((3, 3, 5, 7), 5.0)]
    for k, (shape, w) in enumerate(cases):
        noise_uncond, noise_text = noise_pair(shape, seed=k // 4)
        expected = cfg_combine(noise_uncond, noise_text, w)
        originals = {"noise_uncond": noise_uncond.clone(), "noise_text": noise_text.clone()}
        got = m.cfg_combine(noise_uncond, noise_text, w)
        expect_inputs_unchanged(originals, {"noise_uncond": noise_uncond, "noise_text": noise_text}, "cfg_combine")
        shown = "" if shape == (2, 4, 8, 8) else f" on shape {shape}"
        expect_tensor(got, expected, f"cfg_combine at guidance_scale = {w:g}{shown}")


class RecordingUNet:
    """Stands in for the UNet: records what it is called with and answers with a prediction shaped like x."""

    def __init__(self):
        self.calls = []

    def __call__(self, sample, timestep, encoder_hidden_states):
        self.calls.append((sample, encoder_hidden_states))
        return SimpleNamespace(sample=0.5 * sample + encoder_hidden_states.mean(dim=(1, 2)).view(-1, 1, 1, 1))


def library_batched_inputs(latents, prompt_embeds, negative_embeds):
    """What TextToImagePipeline.guided_model(cfg="batched") hands the UNet for one step."""
    unet = RecordingUNet()
    model = TextToImagePipeline.guided_model(SimpleNamespace(unet=unet), prompt_embeds, negative_embeds, 7.5, "batched")
    model(latents, torch.tensor(500))
    return unet.calls[0]


@lab.task(
    "batched_cfg_inputs",
    hint="torch.cat([latents, latents]) and torch.cat([negative_embeds, prompt_embeds]): uncond first, along dim 0.",
)
def check_batched_cfg_inputs(m):
    for batch in (1, 3):
        latents, _ = noise_pair((batch, 4, 8, 8), seed=batch)  # x_t, (B, 4, h, w)
        prompt_embeds, negative_embeds = noise_pair((batch, 77, 64), seed=10 + batch)  # (B, L, D) each
        expected_x, expected_text = library_batched_inputs(latents, prompt_embeds, negative_embeds)
        arguments = {"latents": latents, "prompt_embeds": prompt_embeds, "negative_embeds": negative_embeds}
        originals = {name: value.clone() for name, value in arguments.items()}
        got = m.batched_cfg_inputs(latents, prompt_embeds, negative_embeds)
        expect_inputs_unchanged(originals, arguments, "batched_cfg_inputs")
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            pair = "a pair (latent_model_input, encoder_hidden_states)"
            raise Wrong(f"batched_cfg_inputs should return {pair}, got {describe(got)}.")
        x_in, text_in = got
        what = f"for B = {batch}"
        if isinstance(text_in, torch.Tensor) and text_in.shape == expected_text.shape:
            if torch.equal(text_in, torch.cat([prompt_embeds, negative_embeds])):
                raise Wrong(
                    f"encoder_hidden_states {what} is [text; uncond]. The pipeline splits the UNet's output with "
                    "`.chunk(2)` into (noise_uncond, noise_text), so the unconditional half must come first."
                )
            if batch > 1 and torch.equal(text_in, torch.stack([negative_embeds, prompt_embeds], 1).flatten(0, 1)):
                raise Wrong(
                    f"encoder_hidden_states {what} interleaves the halves (neg₀, text₀, neg₁, …); `.chunk(2)` "
                    "splits the batch in the middle, so stack all negatives first, then all prompts."
                )
        expect_tensor(x_in, expected_x, f"latent_model_input {what}")
        expect_tensor(text_in, expected_text, f"encoder_hidden_states {what}")


# --- guidance rescale -------------------------------------------------------------------------------------------


def rescale_slips(noise_cfg, noise_text, phi) -> dict:
    """What plausible slips return, by the reason shown when the learner's answer is one of them."""
    dims = list(range(1, noise_cfg.ndim))  # every axis but the batch

    def mixed(ratio):  # φ·(ε̂_cfg·ratio) + (1 - φ)·ε̂_cfg
        return phi * noise_cfg * ratio + (1 - phi) * noise_cfg

    slips = {
        "takes one standard deviation over the whole batch; take one per sample, over every axis but the batch "
        "(dim=list(range(1, ndim)), keepdim=True), so that each image is rescaled by its own spread": mixed(
            noise_text.std() / noise_cfg.std()
        ),
        "scales by a ratio of variances; the rescale matches standard deviations, σ(ε̂_c) / σ(ε̂_cfg)": mixed(
            noise_text.var(dim=dims, keepdim=True) / noise_cfg.var(dim=dims, keepdim=True)
        ),
        "scales by σ(ε̂_cfg) / σ(ε̂_c), the ratio upside down; the guided prediction should end with the "
        "conditional one's spread, so multiply by σ(ε̂_c) / σ(ε̂_cfg)": mixed(
            noise_cfg.std(dim=dims, keepdim=True) / noise_text.std(dim=dims, keepdim=True)
        ),
        "mixes the wrong way round: φ weighs the rescaled prediction and 1 − φ the plain guided one": (
            rescale_noise_cfg(noise_cfg, noise_text, 1 - phi)
        ),
    }
    if noise_cfg.ndim == 5:
        slips[
            "takes the standard deviation over axes (1, 2, 3) only; a video latent (B, C, F, h, w) has one more, so "
            "reduce over every axis but the batch: dim=list(range(1, ndim))"
        ] = mixed(noise_text.std(dim=(1, 2, 3), keepdim=True) / noise_cfg.std(dim=(1, 2, 3), keepdim=True))
    return slips


def explain(got, expected: torch.Tensor, slips: dict, what: str, atol: float = 1e-5, rtol: float = 1e-4):
    """Raise Wrong with a slip's reason if `got` matches what that slip returns (and the right answer does not).

    A slip can be harmless on one input (a whole-batch std is the per-sample std for batch 1): it is skipped there."""
    if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
        return
    for reason, value in slips.items():
        close = functools.partial(torch.allclose, value, atol=atol, rtol=rtol)
        if close(got.detach().cpu()) and not close(expected):
            raise Wrong(f"{what} {reason}.")


# (B, C, h, w) latents; batch 1; odd sizes; a video latent (B, C, F, h, w); each with φ = 0, 0.7 and 1
RESCALE_CASES = [
    ((2, 4, 8, 8), 0.7),
    ((1, 4, 8, 8), 0.0),
    ((3, 3, 5, 7), 1.0),
    ((1, 4, 3, 6, 6), 0.7),
    ((2, 4, 8, 8), 1.0),
]


@lab.task(
    "rescale_noise_cfg",
    hint="std over dim=list(range(1, ndim)) with keepdim=True for noise_text and noise_cfg; rescaled = noise_cfg · "
    "σ_text/σ_cfg; return φ·rescaled + (1 − φ)·noise_cfg, as new tensors.",
)
def check_rescale_noise_cfg(m):
    for k, (shape, phi) in enumerate(RESCALE_CASES):
        noise_uncond, noise_text = noise_pair(shape, seed=20 + k)
        noise_text = 0.9 * noise_uncond + 0.5 * noise_text  # correlated with noise_uncond, as real predictions are
        noise_cfg = cfg_combine(noise_uncond, noise_text, 7.5)  # (B, …): a guided prediction with a larger spread
        expected = rescale_noise_cfg(noise_cfg, noise_text, phi)
        originals = {"noise_cfg": noise_cfg.clone(), "noise_text": noise_text.clone()}
        got = m.rescale_noise_cfg(noise_cfg, noise_text, phi)
        what = f"rescale_noise_cfg on shape {shape} with guidance_rescale = {phi:g}"
        expect_inputs_unchanged(originals, {"noise_cfg": noise_cfg, "noise_text": noise_text}, what)
        if phi == 0 and isinstance(got, torch.Tensor) and got.shape == shape and not torch.allclose(got, noise_cfg):
            raise Wrong(f"{what} should return noise_cfg unchanged: φ = 0 is plain guidance.")
        explain(got, expected, rescale_slips(noise_cfg, noise_text, phi), what)
        expect_tensor(got, expected, what)


# --- a complete guided loop ---------------------------------------------------------------------------------------


@functools.cache
def shapes_unet() -> UNet2DConditionModel:
    """The course model's UNet (shapes-sd), loaded once per checker process; 4 M parameters, latents (B, 4, 8, 8)."""
    return load_model_folder(UNet2DConditionModel, weights_folder("shapes-sd") / "unet").eval()


@functools.cache
def shapes_scheduler_config() -> dict:
    """The course model's scheduler_config.json (DPM-Solver++); other schedulers are built from it by name."""
    return read_config(weights_folder("shapes-sd") / "scheduler", "scheduler_config.json")


class CountingUNet(torch.nn.Module):
    """The UNet the learner's loop receives: it answers as the real one and records (batch size, timestep) per call.

    It crosses to the learner's process and back (remote.py copies its attributes back), so `calls` comes home."""

    def __init__(self, unet):
        super().__init__()
        self.unet, self.config, self.calls = unet, unet.config, []

    def forward(self, sample, timestep, encoder_hidden_states):
        self.calls.append((int(sample.shape[0]), float(timestep)))
        return self.unet(sample, timestep, encoder_hidden_states=encoder_hidden_states)


def pipeline_loop(unet, scheduler, latents, prompt_embeds, negative_embeds, guidance_scale, steps):
    """The final latents as TextToImagePipeline computes them: its guided_model, then the shared sampling loop."""
    model = TextToImagePipeline.guided_model(
        SimpleNamespace(unet=unet), prompt_embeds, negative_embeds, guidance_scale, "batched"
    )
    with torch.no_grad():
        return sample_loop(model, scheduler, latents, steps)


def slipped_loop(unet, scheduler, latents, prompt_embeds, negative_embeds, w, steps, slip: str):
    """The loop with one plausible slip: "order", "scale_input", "init_sigma", "step_on_input" or "unguided_last"."""
    scheduler.set_timesteps(steps)
    x = latents if slip == "init_sigma" else latents * scheduler.init_noise_sigma
    both = torch.cat([prompt_embeds, negative_embeds] if slip == "order" else [negative_embeds, prompt_embeds])
    with torch.no_grad():
        for i, t in enumerate(scheduler.timesteps):
            model_input = x if slip == "scale_input" else scheduler.scale_model_input(x, t)
            noise_uncond, noise_text = unet(torch.cat([model_input] * 2), t, encoder_hidden_states=both).sample.chunk(2)
            guided = cfg_combine(noise_uncond, noise_text, w)
            if slip == "unguided_last" and i == len(scheduler.timesteps) - 1:
                guided = noise_text
            x = scheduler.step(guided, t, model_input if slip == "step_on_input" else x).prev_sample
    return x


LOOP_SLIPS = {
    "order": "stacks the embeddings as [text; uncond], so `.chunk(2)` hands back the halves swapped and guidance "
    "pushes away from the prompt; the unconditional half comes first",
    "scale_input": "gives the UNet x itself; the model expects scheduler.scale_model_input(x, t) (for Euler that is "
    "x / √(σ² + 1))",
    "init_sigma": "starts from the latents as given; the first x is latents · scheduler.init_noise_sigma (about 14.6 "
    "for Euler, 1 for DDIM and DPM-Solver)",
    "step_on_input": "passes the scaled model input to scheduler.step; step takes the unscaled sample x",
    "unguided_last": "uses the unguided (conditional) prediction on the last step; guide every step",
}

# (scheduler, batch B, steps N, guidance scale w): DPM-Solver++ (the course model's), and Euler, whose
# scale_model_input and init_noise_sigma are not identities; batch 1 and an odd batch; one step
LOOP_CASES = [("dpm++", 2, 4, 7.5), ("euler", 3, 3, 5.0), ("euler", 1, 1, 7.5), ("dpm++", 1, 3, 1.0)]


def expect_calls(calls, batch: int, steps: int, w: float, what: str):
    """N calls of batch 2B (batched CFG) or 2N of batch B (two passes) when guiding; N calls of batch B when not."""
    sizes = [size for size, _ in calls]
    if w <= 1:
        if sizes != [batch] * steps:
            raise Wrong(
                f"{what}: the UNet was called {len(sizes)} times with batch sizes {sorted(set(sizes))}; guidance is "
                f"off at guidance_scale ≤ 1, so the pipeline makes one call per step ({steps}) with the prompt's "
                f"embeddings alone, batch {batch}, and skips the unconditional half."
            )
    elif sizes not in ([2 * batch] * steps, [batch] * (2 * steps)):
        raise Wrong(
            f"{what}: the UNet was called {len(sizes)} times with batch sizes {sorted(set(sizes))}; guided sampling "
            f"needs both predictions at every step: {steps} calls of batch {2 * batch} (batched) or {2 * steps} of "
            f"batch {batch} (two passes)."
        )


@lab.task(
    "guided_loop",
    hint="set_timesteps(N); x = latents · init_noise_sigma; per t: model_input = scale_model_input(x, t), one UNet "
    "call on [uncond; text] (or the text alone at w ≤ 1), cfg, x = step(ε̂, t, x).prev_sample; return x.",
    time_limit=60.0,
)
def check_guided_loop(m):
    unet, config = shapes_unet(), shapes_scheduler_config()
    dim = unet.config.cross_attention_dim
    for k, (name, batch, steps, w) in enumerate(LOOP_CASES):
        latents, _ = noise_pair((batch, unet.config.in_channels, 8, 8), seed=30 + k)  # x_T ~ N(0, I)
        prompt_embeds, negative_embeds = noise_pair((batch, 77, dim), seed=40 + k)  # (B, L, D) each
        expected = pipeline_loop(
            unet, schedulers.get(name, **config), latents, prompt_embeds, negative_embeds, w, steps
        )
        arguments = {"latents": latents, "prompt_embeds": prompt_embeds, "negative_embeds": negative_embeds}
        originals = {key: value.clone() for key, value in arguments.items()}
        counting, scheduler = CountingUNet(unet), schedulers.get(name, **config)
        what = f"guided_loop with {type(scheduler).__name__}, B = {batch}, {steps} step(s), guidance_scale = {w:g}"
        got = m.guided_loop(counting, scheduler, latents, prompt_embeds, negative_embeds, w, steps)
        expect_inputs_unchanged(originals, arguments, what)
        expect_calls(counting.calls, batch, steps, w, what)
        if w > 1:
            fresh = originals["latents"], originals["prompt_embeds"], originals["negative_embeds"]
            slips = {
                reason: slipped_loop(unet, schedulers.get(name, **config), *fresh, w, steps, slip)
                for slip, reason in LOOP_SLIPS.items()
            }
            explain(got, expected, slips, what, atol=1e-4)
        expect_tensor(got, expected, f"{what}: the final latents", atol=1e-4, rtol=1e-4)
