"""Checks for lab a04 (CFG code reading): the learner's functions against TextToImagePipeline's own guidance."""

from types import SimpleNamespace

import torch

from ..pipelines.text_to_image import TextToImagePipeline, cfg_combine
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
    noise_uncond, noise_text = noise_pair((2, 4, 8, 8), seed=0)  # (B, 4, h, w), as the pipeline's UNet returns
    for w in (0.0, 1.0, 3.0, 7.5):
        expected = cfg_combine(noise_uncond, noise_text, w)
        originals = {"noise_uncond": noise_uncond.clone(), "noise_text": noise_text.clone()}
        got = m.cfg_combine(noise_uncond, noise_text, w)
        expect_inputs_unchanged(originals, {"noise_uncond": noise_uncond, "noise_text": noise_text}, "cfg_combine")
        expect_tensor(got, expected, f"cfg_combine at guidance_scale = {w:g}")


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
        got = m.batched_cfg_inputs(latents, prompt_embeds, negative_embeds)
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
