"""Text to image, Stable Diffusion style: prompt → text encoder → latents → UNet + scheduler loop → VAE decode.

Shapes for SD 1.5 at 512×512 with one prompt and classifier-free guidance:
    input_ids (1, 77) → prompt_embeds (1, 77, 768); with the negative prompt (2, 77, 768)
    latents (1, 4, 64, 64) → UNet input (2, 4, 64, 64) → noise prediction (2, 4, 64, 64) → guided (1, 4, 64, 64)
    decode: (1, 4, 64, 64) / 0.18215 → image (1, 3, 512, 512) in [-1, 1]

Two remedies for over-guidance act on the guided prediction: `guidance_rescale` (rescale_noise_cfg below) and
`guidance_interval` (guide only part of the steps). The third, dynamic thresholding, lives in the scheduler
(`thresholding=True`): it clamps x̂0, which this file never sees.
"""

import inspect

import torch

from ..noise import randn_tensor
from ..sampling import denoise
from ..trace import stage, tag
from .base import Pipeline, dtype_of
from .checks import (
    CFG_MODES,
    OUTPUT_TYPES,
    check_callback,
    check_choice,
    check_count,
    check_eta,
    check_generator,
    check_guidance,
    check_guidance_interval,
    check_guidance_rescale,
    check_latents,
    check_size,
    check_steps,
    prompts_as_list,
    warn_if_truncated,
)
from .images import postprocess
from .memory import check_memory, estimate_memory


def cfg_combine(noise_uncond: torch.Tensor, noise_text: torch.Tensor, guidance_scale: float) -> torch.Tensor:
    """Classifier-free guidance: ε̂ = ε̂_uncond + w·(ε̂_text - ε̂_uncond) (Ho & Salimans 2022)."""
    return noise_uncond + guidance_scale * (noise_text - noise_uncond)


def rescale_noise_cfg(noise_cfg: torch.Tensor, noise_text: torch.Tensor, guidance_rescale: float) -> torch.Tensor:
    """Guidance rescale (Lin et al. 2023, "Common Diffusion Noise Schedules and Sample Steps are Flawed", §3.4).

    With σ(·) the standard deviation of one sample over all its other axes (C, h, w), and φ = guidance_rescale:

        ε̂_rescaled = ε̂_cfg · σ(ε̂_c) / σ(ε̂_cfg)           the guided prediction given the conditional one's spread
        ε̂_final    = φ·ε̂_rescaled + (1 - φ)·ε̂_cfg         φ = 0: plain CFG; φ = 1: fully rescaled ("plain" images)

    noise_cfg: the guided prediction (B, C, h, w); noise_text: ε̂_c, the same shape. Returns a new tensor; φ = 0.7
    in the paper. The same maths as diffusers' `rescale_noise_cfg` (tests/test_guidance.py checks it).
    """
    dims = list(range(1, noise_cfg.ndim))  # every axis but the batch
    std_text = noise_text.std(dim=dims, keepdim=True)  # (B, 1, 1, 1)
    std_cfg = noise_cfg.std(dim=dims, keepdim=True)  # (B, 1, 1, 1)
    rescaled = noise_cfg * (std_text / std_cfg)
    return guidance_rescale * rescaled + (1 - guidance_rescale) * noise_cfg


def guided_steps(timesteps: torch.Tensor, start: float, end: float) -> set[float]:
    """The timesteps at which to guide: those of the steps i (0 = noisiest) with start ≤ i/N < end.

    Kynkäänniemi et al. 2024 ("Applying Guidance in a Limited Interval Improves Sample and Distribution Quality in
    Diffusion Models") define the interval in noise levels σ; ours is in fractions of the N denoising steps, like
    diffusers' control_guidance_start/end (which keeps step i when start ≤ i/N and (i+1)/N ≤ end: the same steps
    whenever end·N is a whole number). Early steps are the noisy ones: (0.3, 1.0) skips guidance on the first 30 %.
    """
    n = len(timesteps)
    return {float(t) for i, t in enumerate(timesteps) if start <= i / n < end}


class TextToImagePipeline(Pipeline):
    component_names = ("tokenizer", "text_encoder", "unet", "scheduler", "vae")
    diffusers_class = "StableDiffusionPipeline"

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    def encode_prompt(self, prompts: list[str]) -> torch.Tensor:
        """Token ids padded to the tokenizer's max length → the text encoder's last hidden states (B, L, D)."""
        tokens = self.tokenizer(
            prompts,
            padding="max_length",
            max_length=self.tokenizer.model_max_length,
            truncation=True,
            return_tensors="pt",
        )  # input_ids (B, L)
        use_mask = getattr(self.text_encoder.config, "use_attention_mask", False)
        mask = tokens.attention_mask.to(self.device) if use_mask else None
        with torch.no_grad():
            embeds = self.text_encoder(tokens.input_ids.to(self.device), attention_mask=mask)[0]  # (B, L, D)
        return embeds.to(dtype_of(self.unet))

    def latent_shape(self, batch_size: int, height: int, width: int) -> tuple:
        return (
            batch_size,
            self.unet.config.in_channels,
            height // self.vae_scale_factor,
            width // self.vae_scale_factor,
        )

    def prepare_latents(self, batch_size: int, height: int, width: int, generator=None, latents=None):
        """x_T: Gaussian noise (drawn on the CPU, so a seed gives the same image on any device) × init_noise_sigma."""
        if latents is None:
            latents = randn_tensor(self.latent_shape(batch_size, height, width), generator, dtype_of(self.unet))
        return latents.to(self.device) * self.scheduler.init_noise_sigma

    def guided_model(
        self,
        prompt_embeds,
        negative_embeds,
        guidance_scale: float,
        cfg: str = "batched",
        guidance_rescale: float = 0.0,
        guided_at: set | None = None,
    ):
        """The denoiser the scheduler sees: (x, t) → guided noise prediction.

        cfg="batched" runs one UNet call on [uncond; text] (twice the batch); "two_pass" runs two calls.
        Both give the same result; batched is faster on a GPU, two-pass needs half the activation memory.
        guidance_rescale > 0 passes the guided prediction through rescale_noise_cfg. guided_at: the timesteps at
        which to guide (see guided_steps); at the others the text-conditioned prediction alone, one UNet call.
        """

        def conditional(x, t):
            return self.unet(x, t, encoder_hidden_states=prompt_embeds).sample

        if guidance_scale <= 1:  # no guidance: the text-conditioned prediction alone
            return conditional
        if cfg == "batched":
            both = torch.cat([negative_embeds, prompt_embeds])  # (2B, L, D): [uncond; text]

            def predictions(x, t):
                return self.unet(torch.cat([x, x]), t, encoder_hidden_states=both).sample.chunk(2)

        elif cfg == "two_pass":

            def predictions(x, t):
                noise_uncond = self.unet(x, t, encoder_hidden_states=negative_embeds).sample
                return noise_uncond, self.unet(x, t, encoder_hidden_states=prompt_embeds).sample

        else:
            raise ValueError(f"cfg: got {cfg!r}; valid values are 'batched' and 'two_pass'.")

        def model(x, t):
            if guided_at is not None and float(t) not in guided_at:  # outside the guidance interval
                return conditional(x, t)
            noise_uncond, noise_text = predictions(x, t)  # (B, C, h, w) each
            noise_cfg = cfg_combine(noise_uncond, noise_text, guidance_scale)
            if guidance_rescale > 0:
                noise_cfg = rescale_noise_cfg(noise_cfg, noise_text, guidance_rescale)
            return noise_cfg

        return model

    def step_kwargs(self, eta: float) -> dict:
        """DDIM's eta, passed only to schedulers whose step takes it."""
        return {"eta": eta} if "eta" in inspect.signature(self.scheduler.step).parameters else {}

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents → image in [-1, 1]: undo the scaling that made latents unit-variance, then run the decoder."""
        with stage("decode"), torch.no_grad():
            return self.vae.decode(latents / self.vae.config.scaling_factor).sample  # (B, 3, H, W)

    def conditioning(self, prompt, negative_prompt, num_images_per_prompt: int, guidance_scale: float):
        """Prompt and negative-prompt embeddings, each repeated per image: (B·n, L, D).

        Without guidance (guidance_scale ≤ 1) the negative prompt is never used, so it is not encoded (None).
        """
        prompts, negatives = prompts_as_list(prompt, negative_prompt)
        with stage("encode_prompt"):
            prompt_embeds = tag("conditioning", self.encode_prompt(prompts).repeat_interleave(num_images_per_prompt, 0))
            negative_embeds = None
            if guidance_scale > 1:
                negative_embeds = tag(
                    "conditioning", self.encode_prompt(negatives).repeat_interleave(num_images_per_prompt, 0)
                )
        return prompt_embeds, negative_embeds

    def check_inputs(
        self,
        prompt,
        negative_prompt,
        num_inference_steps,
        guidance_scale,
        num_images_per_prompt,
        generator,
        eta,
        cfg,
        output_type,
        callback,
    ) -> tuple[int, float, int, int]:
        """The checks all three pipelines share, run before any model call.

        Returns num_inference_steps, guidance_scale and num_images_per_prompt as Python numbers (NumPy ones are
        accepted), and the batch size: prompts × num_images_per_prompt. Warns once if a prompt is too long.
        """
        num_inference_steps = check_steps(num_inference_steps, self.scheduler.config.num_train_timesteps)
        guidance_scale = check_guidance(guidance_scale)
        num_images_per_prompt = check_count("num_images_per_prompt", num_images_per_prompt)
        prompts, negatives = prompts_as_list(prompt, negative_prompt)
        batch_size = len(prompts) * num_images_per_prompt
        check_generator(generator, batch_size)
        check_eta(eta)
        check_choice("cfg", cfg, CFG_MODES)
        check_choice("output_type", output_type, OUTPUT_TYPES)
        check_callback(callback)
        warn_if_truncated(
            self.tokenizer, {"prompt": prompts, "negative_prompt": negatives if guidance_scale > 1 else []}
        )
        return num_inference_steps, guidance_scale, num_images_per_prompt, batch_size

    def check_memory(self, height: int, width: int, batch_size: int, guidance_scale: float, cfg: str):
        """Refuse a size whose estimated memory is over the limit (see memory.py), before anything is allocated."""
        guided_batch = 2 * batch_size if guidance_scale > 1 and cfg == "batched" else batch_size
        estimate = estimate_memory(self, height, width, batch_size, guided_batch)
        check_memory(estimate, self.device, f"height × width = {height} × {width} for {batch_size} image(s)")

    def __call__(
        self,
        prompt,
        negative_prompt=None,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int = 50,
        guidance_scale: float = 7.5,
        num_images_per_prompt: int = 1,
        generator=None,
        latents=None,
        eta: float = 0.0,
        cfg: str = "batched",
        output_type: str = "pil",
        callback=None,
        guidance_rescale: float = 0.0,
        guidance_interval: tuple[float, float] | None = None,
    ):
        """Generate images for `prompt`. Beyond diffusers' usual arguments:

        guidance_rescale: φ of rescale_noise_cfg, 0 … 1 (0, the default, is plain CFG; Lin et al. use 0.7).
        guidance_interval: (start, end), fractions of the steps in [0, 1]; guidance only at the steps i with
            start ≤ i/N < end, the conditional prediction alone (one UNet call) elsewhere. None: every step.
        """
        default_size = self.unet.config.sample_size * self.vae_scale_factor  # the size the model was trained at
        height = check_size("height", default_size if height is None else height, self.vae_scale_factor)
        width = check_size("width", default_size if width is None else width, self.vae_scale_factor)
        num_inference_steps, guidance_scale, num_images_per_prompt, batch_size = self.check_inputs(
            prompt, negative_prompt, num_inference_steps, guidance_scale, num_images_per_prompt, generator, eta, cfg,
            output_type, callback,
        )  # fmt: skip
        guidance_rescale = check_guidance_rescale(guidance_rescale)
        guidance_interval = check_guidance_interval(guidance_interval)
        check_latents(latents, self.latent_shape(batch_size, height, width))
        self.check_memory(height, width, batch_size, guidance_scale, cfg)
        with stage("pipeline", pipeline=type(self).__name__):
            prompt_embeds, negative_embeds = self.conditioning(
                prompt, negative_prompt, num_images_per_prompt, guidance_scale
            )
            self.scheduler.set_timesteps(num_inference_steps, device=self.device)
            with stage("prepare_latents"):
                latents = self.prepare_latents(len(prompt_embeds), height, width, generator, latents)
            guided_at = None  # guide at every step
            if guidance_interval is not None:
                guided_at = guided_steps(self.scheduler.timesteps, *guidance_interval)
            model = self.guided_model(prompt_embeds, negative_embeds, guidance_scale, cfg, guidance_rescale, guided_at)
            with torch.no_grad():
                latents = denoise(
                    model,
                    self.scheduler,
                    latents,
                    self.scheduler.timesteps,
                    generator,
                    callback,
                    **self.step_kwargs(eta),
                )
            output = latents if output_type == "latent" else postprocess(self.decode(latents), output_type)
            self.maybe_free_model_hooks()  # with model offload, the last model to run leaves the compute tier too
            return output
