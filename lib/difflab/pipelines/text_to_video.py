"""Text to video, Wan 2.1 style: prompt → UMT5 → latents → transformer + flow-matching loop → causal 3-D VAE decode.

Shapes for Wan2.1-T2V-1.3B at 480×832, 81 frames, one prompt (diffusers' WanPipeline defaults):
    input_ids (1, 512) → UMT5 (1, 512, 4096), zeroed past the prompt's own tokens
    latents (1, 16, 21, 60, 104): 16 channels, (81 - 1)/4 + 1 = 21 latent frames, 480/8 × 832/8
    transformer: 2×2 patches → 21·30·52 = 32,760 tokens; velocity prediction (1, 16, 21, 60, 104)
    guidance: two calls per step (text, then the negative prompt), never one call on a doubled batch
    decode: latents·std + mean per channel → video (1, 3, 81, 480, 832) in [-1, 1] → frames (1, 81, 480, 832, 3)

The scheduler is UniPC in flow mode (Wan's own) or FlowMatchEuler: both step in σ with x_σ = (1-σ)·x0 + σ·ε and
the model's velocity v ≈ ε - x0, from x_1 = ε (no init_noise_sigma) down to σ = 0.
"""

import html
import math
import re
import warnings

import torch

from ..noise import randn_tensor
from ..sampling import denoise
from ..trace import stage, tag
from .base import VIDEO_ALLOWED_CLASSES, Pipeline, dtype_of
from .checks import (
    OUTPUT_TYPES,
    check_callback,
    check_choice,
    check_count,
    check_generator,
    check_guidance,
    check_latents,
    check_steps,
    is_real,
    is_whole,
    prompts_as_list,
)
from .images import postprocess
from .text_to_image import cfg_combine

MAX_SEQUENCE_LENGTH = 512  # UMT5 tokens per prompt, as diffusers' WanPipeline


def prompt_clean(text: str) -> str:
    """diffusers' Wan prompt cleaning: HTML entities unescaped twice, runs of whitespace collapsed to one space.

    (diffusers also runs ftfy.fix_text first when ftfy is installed; it is not installed here, so neither does.)
    """
    text = html.unescape(html.unescape(text)).strip()
    return re.sub(r"\s+", " ", text).strip()


def check_multiple(name: str, value, multiple: int, why: str) -> int:
    """A positive multiple of `multiple`; a refusal names the two nearest valid values."""
    if not is_whole(value) or value <= 0 or value % multiple:
        lower = max(multiple, int(value) // multiple * multiple) if is_finite_number(value) else multiple
        raise ValueError(
            f"{name}: got {value!r}; valid values are positive multiples of {multiple} ({why}). "
            f"Nearest: {lower} or {lower + multiple}."
        )
    return int(value)


def check_num_frames(num_frames, temporal: int) -> int:
    """k·temporal + 1 frames: the causal VAE keeps frame 0 alone and packs every `temporal` frames after it."""
    if not is_whole(num_frames) or num_frames < 1 or (num_frames - 1) % temporal:
        below = max(1, (int(num_frames) - 1) // temporal * temporal + 1) if is_finite_number(num_frames) else 1
        raise ValueError(
            f"num_frames: got {num_frames!r}; valid values are {temporal}·k + 1 (1, {temporal + 1}, "
            f"{2 * temporal + 1}, …, 81): the VAE encodes frame 0 alone and then {temporal} frames per latent frame. "
            f"Nearest: {below} or {below + temporal}."
        )
    return int(num_frames)


def is_finite_number(value) -> bool:
    """A real number that int() can take (17.0, 16.5): the nearest valid values are found from it."""
    return is_real(value) and math.isfinite(value)


class TextToVideoPipeline(Pipeline):
    component_names = ("tokenizer", "text_encoder", "transformer", "vae", "scheduler")
    diffusers_class = "WanPipeline"
    allowed_classes = VIDEO_ALLOWED_CLASSES

    @property
    def vae_scale_factor_temporal(self) -> int:
        return self.vae.config.scale_factor_temporal or 4

    @property
    def vae_scale_factor_spatial(self) -> int:
        return self.vae.config.scale_factor_spatial or 8

    @property
    def size_multiple(self) -> int:
        """Pixels per transformer patch side: the VAE's 8× times the 2×2 patch = 16 for Wan 2.1."""
        return self.vae_scale_factor_spatial * self.transformer.config.patch_size[1]

    def encode_prompt(self, prompts: list[str], max_sequence_length: int = MAX_SEQUENCE_LENGTH) -> torch.Tensor:
        """UMT5 hidden states (B, L, D), L = max_sequence_length, with every position past a prompt's tokens set
        to exactly 0 (as diffusers: the transformer's cross-attention then sees zeros, not the encoder's padding)."""
        tokens = self.tokenizer(
            [prompt_clean(p) for p in prompts],
            padding="max_length",
            max_length=max_sequence_length,
            truncation=True,
            add_special_tokens=True,  # the closing </s>
            return_attention_mask=True,
            return_tensors="pt",
        )
        mask = tokens.attention_mask  # (B, L): 1 on the prompt's tokens, 0 on padding
        device = next(self.text_encoder.parameters()).device
        with torch.no_grad():
            hidden = self.text_encoder(tokens.input_ids.to(device), mask.to(device)).last_hidden_state  # (B, L, D)
        padding = (mask == 0).to(self.device)[..., None]  # (B, L, 1)
        hidden = hidden.to(self.device).masked_fill(padding, 0.0)  # exact zeros past each prompt
        return hidden.to(dtype_of(self.transformer))

    def conditioning(self, prompt, negative_prompt, num_videos_per_prompt, guidance_scale, max_sequence_length):
        """Prompt and negative-prompt embeddings, each repeated per video: (B·n, L, D); no negative without CFG."""
        prompts, negatives = prompts_as_list(prompt, negative_prompt)
        with stage("encode_prompt"):
            embeds = self.encode_prompt(prompts, max_sequence_length)
            prompt_embeds = tag("conditioning", embeds.repeat_interleave(num_videos_per_prompt, 0))
            negative_embeds = None
            if guidance_scale > 1:
                embeds = self.encode_prompt(negatives, max_sequence_length)
                negative_embeds = tag("conditioning", embeds.repeat_interleave(num_videos_per_prompt, 0))
        return prompt_embeds, negative_embeds

    def latent_shape(self, batch_size: int, num_frames: int, height: int, width: int) -> tuple:
        """(B, z_dim, (F - 1)/4 + 1, H/8, W/8)."""
        return (
            batch_size,
            self.transformer.config.in_channels,
            (num_frames - 1) // self.vae_scale_factor_temporal + 1,
            height // self.vae_scale_factor_spatial,
            width // self.vae_scale_factor_spatial,
        )

    def prepare_latents(self, shape: tuple, generator=None, latents=None) -> torch.Tensor:
        """x at σ = 1: pure Gaussian noise in float32 (drawn on the CPU), not multiplied by anything."""
        if latents is None:
            latents = randn_tensor(shape, generator, torch.float32)
        return latents.to(self.device, torch.float32)

    def guided_model(self, prompt_embeds, negative_embeds, guidance_scale: float):
        """(x, t) → guided velocity. Two transformer calls per step under guidance (text first, as diffusers),
        one without (guidance_scale ≤ 1). x stays float32 for the scheduler; the transformer sees its own dtype."""
        dtype = dtype_of(self.transformer)

        def velocity(x, t, embeds):
            timestep = torch.as_tensor(t, device=x.device).expand(x.shape[0])  # (B,)
            return self.transformer(x.to(dtype), timestep, encoder_hidden_states=embeds).sample

        def model(x, t):
            v_text = velocity(x, t, prompt_embeds)
            if guidance_scale <= 1:
                return v_text
            return cfg_combine(velocity(x, t, negative_embeds), v_text, guidance_scale)

        return model

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Diffusion latents → video (B, 3, F, H, W) in [-1, 1]: undo the per-channel normalisation, then decode."""
        with stage("decode"), torch.no_grad():
            vae_dtype = dtype_of(self.vae)
            z_dim = self.vae.config.z_dim
            mean = torch.tensor(self.vae.config.latents_mean).view(1, z_dim, 1, 1, 1).to(latents.device, vae_dtype)
            std = torch.tensor(self.vae.config.latents_std).view(1, z_dim, 1, 1, 1).to(latents.device, vae_dtype)
            return self.vae.decode(latents.to(vae_dtype) * std + mean).sample

    @staticmethod
    def postprocess_video(video: torch.Tensor, output_type: str):
        """(B, 3, F, H, W) in [-1, 1] → 'np': (B, F, H, W, 3) in [0, 1]; 'pt': (B, F, 3, H, W) in [0, 1];
        'pil': one list of F frames per video. Each frame goes through the images' postprocess."""
        batch, _, frames, height, width = video.shape
        frames_first = video.transpose(1, 2).reshape(batch * frames, 3, height, width)  # b c f h w → (b f) c h w
        flat = postprocess(frames_first, output_type)  # (b f) h w c array, (b f) c h w tensor, or b·f images
        if output_type == "pil":
            return [flat[i * frames : (i + 1) * frames] for i in range(batch)]
        return flat.reshape(batch, frames, *flat.shape[1:])  # (b f) … → b f …

    def check_inputs(self, prompt, negative_prompt, height, width, num_frames, num_inference_steps, guidance_scale,
                     num_videos_per_prompt, generator, output_type, callback, max_sequence_length):  # fmt: skip
        """Every argument, before any model call. Returns the checked numbers and the batch size."""
        why = f"the VAE shrinks {self.vae_scale_factor_spatial}× and the transformer packs 2×2 patches"
        height = check_multiple("height", 480 if height is None else height, self.size_multiple, why)
        width = check_multiple("width", 832 if width is None else width, self.size_multiple, why)
        num_frames = check_num_frames(81 if num_frames is None else num_frames, self.vae_scale_factor_temporal)
        num_inference_steps = check_steps(num_inference_steps, self.scheduler.config.num_train_timesteps)
        guidance_scale = check_guidance(guidance_scale)
        num_videos_per_prompt = check_count("num_videos_per_prompt", num_videos_per_prompt)
        max_sequence_length = check_count("max_sequence_length", max_sequence_length)
        prompts, negatives = prompts_as_list(prompt, negative_prompt)
        batch_size = len(prompts) * num_videos_per_prompt
        check_generator(generator, batch_size)
        check_choice("output_type", output_type, OUTPUT_TYPES)
        check_callback(callback)
        texts = prompts + (negatives if guidance_scale > 1 else [])
        longest = max(len(self.tokenizer(prompt_clean(t)).input_ids) for t in texts)  # </s> included
        if longest > max_sequence_length:
            warnings.warn(
                f"a prompt has {longest} tokens and the text encoder reads max_sequence_length = "
                f"{max_sequence_length}: its end was cut. Shorten it or raise max_sequence_length.",
                stacklevel=3,
            )
        return height, width, num_frames, num_inference_steps, guidance_scale, num_videos_per_prompt, batch_size

    def __call__(
        self,
        prompt,
        negative_prompt=None,
        height: int | None = None,
        width: int | None = None,
        num_frames: int | None = None,
        num_inference_steps: int = 50,
        guidance_scale: float = 5.0,
        num_videos_per_prompt: int = 1,
        generator=None,
        latents=None,
        output_type: str = "np",
        callback=None,
        max_sequence_length: int = MAX_SEQUENCE_LENGTH,
    ):
        """Generate videos for `prompt`; defaults as diffusers' WanPipeline (480×832, 81 frames, 50 steps, w = 5).

        A size that is not a multiple of 16 or a frame count not 4·k + 1 is refused with the nearest valid values
        (diffusers raises for the size, but warns and replaces the count by 4·(F // 4) + 1: 16 → 17, 80 → 81,
        15 → 13). output_type 'np' (default): (B, F, H, W, 3) in [0, 1]; 'pt': (B, F, 3, H, W); 'pil': a list
        of frame lists; 'latent': the final latents (B, C, f, h, w), still normalised.
        """
        height, width, num_frames, num_inference_steps, guidance_scale, num_videos_per_prompt, batch_size = (
            self.check_inputs(prompt, negative_prompt, height, width, num_frames, num_inference_steps, guidance_scale,
                              num_videos_per_prompt, generator, output_type, callback, max_sequence_length)
        )  # fmt: skip
        shape = self.latent_shape(batch_size, num_frames, height, width)
        check_latents(latents, shape)
        with stage("pipeline", pipeline=type(self).__name__):
            prompt_embeds, negative_embeds = self.conditioning(
                prompt, negative_prompt, num_videos_per_prompt, guidance_scale, max_sequence_length
            )
            self.scheduler.set_timesteps(num_inference_steps, device=self.device)
            with stage("prepare_latents"):
                latents = self.prepare_latents(shape, generator, latents)
            model = self.guided_model(prompt_embeds, negative_embeds, guidance_scale)
            with torch.no_grad():
                latents = denoise(model, self.scheduler, latents, self.scheduler.timesteps, generator, callback)
            output = latents if output_type == "latent" else self.postprocess_video(self.decode(latents), output_type)
            self.maybe_free_model_hooks()  # with model offload, the last model to run leaves the compute tier too
            return output
