"""Inpainting: regenerate only the masked region of an image, keeping the rest.

With an ordinary 4-channel UNet, every step pastes the known region back: after stepping to timestep s, the
unmasked latents are replaced by the original image's latents noised to s (Lugmayr et al. 2022, RePaint's
"known" half), so the model only ever invents the masked part and blends it with its surroundings:

    x_s ← m·x_s + (1 - m)·add_noise(z_image, ε, s)          m = 1 inside the mask, at latent resolution

A dedicated inpainting UNet (in_channels = 9) instead receives [x, m, z_masked_image] concatenated on channels.
"""

import torch
import torch.nn.functional as F

from ..sampling import denoise
from ..trace import stage, tag
from .checks import check_strength
from .image_to_image import Image2ImagePipeline
from .images import check_mask, image_shape, mask_shape, postprocess, to_mask, to_model_range


class InpaintPipeline(Image2ImagePipeline):
    def check_mask_input(self, mask_image, image, height: int, width: int):
        """The mask covers the image pixel for pixel: one mask for all images, or one per image; values in [0, 1]."""
        count, mask_height, mask_width = mask_shape(mask_image)
        if (mask_height, mask_width) != (height, width):
            raise ValueError(
                f"mask_image: got size {(mask_height, mask_width)} but image is {(height, width)} (H, W); "
                "the mask must cover the image pixel for pixel. Resize it to the image's size."
            )
        images, _, _ = image_shape(image)
        if count not in (1, images):
            raise ValueError(f"mask_image: got {count} masks for {images} images; pass 1 mask, or one per image.")
        check_mask(mask_image)

    def __call__(
        self,
        prompt,
        image,
        mask_image,
        strength: float = 1.0,
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
        num_inference_steps, guidance_scale, num_images_per_prompt, batch = self.check_inputs(
            prompt, negative_prompt, num_inference_steps, guidance_scale, num_images_per_prompt, generator, eta, cfg,
            output_type, callback,
        )  # fmt: skip
        height, width = self.check_image_input(image, batch, guidance_scale, cfg)
        self.check_mask_input(mask_image, image, height, width)
        image, mask = to_model_range(image), to_mask(mask_image)
        with stage("pipeline", pipeline=type(self).__name__):
            prompt_embeds, negative_embeds = self.conditioning(
                prompt, negative_prompt, num_images_per_prompt, guidance_scale
            )
            timesteps = self.start_timesteps(num_inference_steps, strength)
            with stage("prepare_latents"):
                latents, image_latents, noise = self.noised_image_latents(image, batch, timesteps, generator)
                if strength == 1.0:  # start from pure noise, as text-to-image does
                    latents = noise * self.scheduler.init_noise_sigma
                small_mask = F.interpolate(mask, size=latents.shape[-2:]).to(self.device, latents.dtype)  # (B, 1, h, w)
                small_mask = small_mask.repeat_interleave(batch // len(small_mask), 0)
            model = self.guided_model(prompt_embeds, negative_embeds, guidance_scale, cfg)
            if self.unet.config.in_channels == 9:  # a dedicated inpainting UNet: condition on mask and masked image
                masked = self.encode_images(image * (1 - mask), batch, generator)
                model = concat_condition(model, small_mask, masked)
                callback_blend = callback
            else:
                callback_blend = paste_known_region(
                    self.scheduler, timesteps, image_latents, noise, small_mask, callback
                )
            with torch.no_grad():
                latents = denoise(
                    model,
                    self.scheduler,
                    tag("latents", latents),
                    timesteps,
                    generator,
                    callback_blend,
                    **self.step_kwargs(eta),
                )
            output = latents if output_type == "latent" else postprocess(self.decode(latents), output_type)
            self.maybe_free_model_hooks()  # with model offload, the last model to run leaves the compute tier too
            return output


def concat_condition(model, mask, masked_image_latents):
    """Wrap a 9-channel inpainting UNet: its input is [x (4), mask (1), masked-image latents (4)] on channels."""
    return lambda x, t: model(torch.cat([x, mask, masked_image_latents], dim=1), t)


def paste_known_region(scheduler, timesteps, image_latents, noise, mask, callback=None):
    """A denoise() callback that keeps the unmasked region equal to the image, noised to the current level."""

    def blend(i, t, x, x0):
        if i + 1 < len(timesteps):
            known = scheduler.add_noise(image_latents, noise, timesteps[i + 1 : i + 2].repeat(len(x)))
        else:
            known = image_latents  # after the last step: the clean image latents
        x = mask * x + (1 - mask) * known
        if callback is not None:
            replaced = callback(i, t, x, x0)
            x = x if replaced is None else replaced
        return x

    return blend
