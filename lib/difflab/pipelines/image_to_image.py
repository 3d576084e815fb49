"""Image to image (SDEdit, Meng et al. 2022): noise an encoded image part of the way, then denoise it with a prompt.

strength s ∈ [0, 1] picks where on the schedule to start: the last ⌊s·N⌋ of the N timesteps are run, after the
image's latents are noised to the first of them with the forward process. s = 1 ignores the image; s = 0 returns
it (round-tripped through the VAE). images.py says which images are accepted.
"""

import torch

from ..noise import randn_tensor
from ..sampling import denoise
from ..trace import stage, tag
from .base import dtype_of
from .checks import check_size, check_strength
from .images import check_image, image_shape, postprocess, to_model_range
from .text_to_image import TextToImagePipeline


def strength_timesteps(scheduler, num_inference_steps: int, strength: float, device=None) -> torch.Tensor:
    """The tail of the scheduler's timesteps that img2img runs for this strength (diffusers' get_timesteps).

    ⌊strength·N⌋ steps are run (int() truncates: 50 × 0.58 is 28.999… in floating point, so 28 steps), starting at
    index N - ⌊strength·N⌋. Which t that is depends on the spacing: N = 50, strength 0.8 starts at index 10, which is
    t = 781 with leading spacing and steps_offset=1 (SD 1.5) and t = 799 with trailing spacing.
    """
    scheduler.set_timesteps(num_inference_steps, device=device)
    run = min(int(num_inference_steps * strength), num_inference_steps)  # diffusers' init_timestep
    start = num_inference_steps - run  # diffusers' t_start
    return scheduler.timesteps[start * scheduler.order :]


class Image2ImagePipeline(TextToImagePipeline):
    def encode_image(self, image: torch.Tensor, generator=None) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] → latents (B, 4, H/8, W/8): a posterior sample, scaled to unit variance."""
        with stage("encode_image"), torch.no_grad():
            posterior = self.vae.encode(image.to(self.device, dtype_of(self.vae))).latent_dist
            return posterior.sample(generator) * self.vae.config.scaling_factor

    def encode_images(self, image: torch.Tensor, batch_size: int, generator=None) -> torch.Tensor:
        """Latents for each of the batch_size images: the image(s) encoded, each repeated in place (a a b b, as the
        prompt embeddings are; diffusers repeats the whole list, a b a b). With a list of generators (one per image),
        each repeated image is encoded with its own.
        """
        if isinstance(generator, list):
            image = image.repeat_interleave(batch_size // len(image), 0)
            return torch.cat([self.encode_image(image[i : i + 1], g) for i, g in enumerate(generator)])
        return self.encode_image(image, generator).repeat_interleave(batch_size // len(image), 0)

    def check_image_input(self, image, batch_size: int, guidance_scale: float, cfg: str) -> tuple[int, int]:
        """The image's size, number and values, and the memory its size needs; returns (height, width)."""
        count, height, width = image_shape(image)
        check_size("image height", height, self.vae_scale_factor)
        check_size("image width", width, self.vae_scale_factor)
        if batch_size % count:
            raise ValueError(
                f"image: got {count} images for {batch_size} prompts × num_images_per_prompt; pass 1 image, or "
                f"one per prompt, or a number that divides {batch_size}."
            )
        self.check_memory(height, width, batch_size, guidance_scale, cfg)
        check_image(image)
        return height, width

    def start_timesteps(self, num_inference_steps: int, strength: float) -> torch.Tensor:
        """The tail of the schedule that img2img runs: the last ⌊strength·N⌋ timesteps."""
        return strength_timesteps(self.scheduler, num_inference_steps, strength, self.device)

    def noised_image_latents(self, image, batch_size, timesteps, generator):
        """x_{t_start}: the image latents pushed forward to the first timestep run (plus the noise used)."""
        init = self.encode_images(to_model_range(image), batch_size, generator)  # (B, 4, h, w)
        noise = randn_tensor(init.shape, generator, init.dtype).to(self.device)
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
        strength = check_strength(strength)
        num_inference_steps, guidance_scale, num_images_per_prompt, batch_size = self.check_inputs(
            prompt, negative_prompt, num_inference_steps, guidance_scale, num_images_per_prompt, generator, eta, cfg,
            output_type, callback,
        )  # fmt: skip
        self.check_image_input(image, batch_size, guidance_scale, cfg)
        with stage("pipeline", pipeline=type(self).__name__):
            prompt_embeds, negative_embeds = self.conditioning(
                prompt, negative_prompt, num_images_per_prompt, guidance_scale
            )
            timesteps = self.start_timesteps(num_inference_steps, strength)
            with stage("prepare_latents"):
                latents, _, _ = self.noised_image_latents(image, batch_size, timesteps, generator)
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
            output = latents if output_type == "latent" else postprocess(self.decode(latents), output_type)
            self.maybe_free_model_hooks()  # with model offload, the last model to run leaves the compute tier too
            return output
