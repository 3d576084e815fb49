"""Image to image (SDEdit, Meng et al. 2022): noise an encoded image part of the way, then denoise it with a prompt.

strength s ∈ [0, 1] picks where on the schedule to start: the last ⌊s·N⌋ of the N timesteps are run, after the
image's latents are noised to the first of them with the forward process. s = 1 ignores the image; s = 0 returns
it (round-tripped through the VAE).
"""

import torch

from ..sampling import denoise
from ..trace import stage, tag
from .base import dtype_of
from .checks import check_guidance, check_size, check_steps, check_strength
from .images import postprocess, to_model_range
from .text_to_image import TextToImagePipeline


class Image2ImagePipeline(TextToImagePipeline):
    def encode_image(self, image: torch.Tensor, generator=None) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] → latents (B, 4, H/8, W/8): a posterior sample, scaled to unit variance."""
        with stage("encode_image"), torch.no_grad():
            posterior = self.vae.encode(image.to(self.device, dtype_of(self.vae))).latent_dist
            return posterior.sample(generator) * self.vae.config.scaling_factor

    def start_timesteps(self, num_inference_steps: int, strength: float) -> torch.Tensor:
        """The tail of the schedule that img2img runs: the last ⌊strength·N⌋ timesteps."""
        self.scheduler.set_timesteps(num_inference_steps, device=self.device)
        run = min(int(num_inference_steps * strength), num_inference_steps)
        return self.scheduler.timesteps[(num_inference_steps - run) * self.scheduler.order :]

    def noised_image_latents(self, image, batch_size, timesteps, generator):
        """x_{t_start}: the image latents pushed forward to the first timestep run (plus the noise used)."""
        image = to_model_range(image)
        check_size("image height", image.shape[-2], self.vae_scale_factor)
        check_size("image width", image.shape[-1], self.vae_scale_factor)
        init = self.encode_image(image, generator)  # (B_image, 4, h, w)
        if batch_size % len(init):
            raise ValueError(
                f"image: got {len(init)} images for {batch_size} prompts×images; pass 1 or one per prompt."
            )
        init = init.repeat_interleave(batch_size // len(init), 0)
        noise = torch.randn(init.shape, generator=generator, dtype=init.dtype).to(self.device)
        if len(timesteps) == 0:
            return init, init, noise
        return self.scheduler.add_noise(init, noise, timesteps[:1].repeat(batch_size)), init, noise

    def __call__(
        self,
        prompt,
        image,
        strength: float = 0.8,
        negative_prompt=None,
        num_inference_steps: int = 50,
        guidance_scale: float = 7.5,
        num_images_per_prompt: int = 1,
        generator=None,
        eta: float = 0.0,
        cfg: str = "batched",
        output_type: str = "pil",
        callback=None,
    ):
        check_strength(strength)
        check_steps(num_inference_steps, self.scheduler.config.num_train_timesteps)
        check_guidance(guidance_scale)
        with stage("pipeline", pipeline=type(self).__name__):
            prompt_embeds, negative_embeds = self.conditioning(
                prompt, negative_prompt, num_images_per_prompt, guidance_scale
            )
            timesteps = self.start_timesteps(num_inference_steps, strength)
            with stage("prepare_latents"):
                latents, _, _ = self.noised_image_latents(image, len(prompt_embeds), timesteps, generator)
            model = self.guided_model(prompt_embeds, negative_embeds, guidance_scale, cfg)
            with torch.no_grad():
                latents = denoise(
                    model,
                    self.scheduler,
                    tag("latents", latents),
                    timesteps,
                    generator,
                    callback,
                    **self.step_kwargs(eta),
                )
            return latents if output_type == "latent" else postprocess(self.decode(latents), output_type)
