"""How much memory a generation needs, estimated from the components' configs before anything runs.

The pipelines refuse a call whose estimate is over the limit, so that 100000×100000 fails at once with a message
instead of allocating until the machine runs out of memory. For b images of H×W, latents h×w = H/f × W/f
(f the VAE's factor), s bytes per element (4 in float32), C0 the UNet's first block_out_channels, C_full the VAE
decoder's full-resolution width (its block_out_channels[1]) and b_cfg = 2b under batched guidance, else b:

    latents   4 · b · C_latent · h·w · s              x_t, the scaled model input, the prediction, the step's output
    UNet      b_cfg · h·w · s · max_i(M_i · C_i / 4^i)  level i: C_i channels on (h/2^i)·(w/2^i) latent pixels
    VAE       4 · b · C_full · H·W · s                VAE_MAPS maps of C_full channels at the decoder's last level
    working   = latents + max(UNet, VAE)              the UNet and the VAE never run at the same time
    peak      = weights + working                     the weights are already in memory: the limit is on working

M_i, the maps of a level's width live at once at the UNet's peak: 26 where the level has attention, 14 where it
has none. The up path holds the skips it still needs and the concatenated input of a resnet with its GroupNorm and
SiLU copies; attention adds the GEGLU feed-forward, which widens each token to 8·C. The trace's ledger measures
24.0·C0 (shapes-sd), 25.0·C0 (SD 1.5) and 13.3·C0 (a UNet with no attention at its top level) per latent pixel.
VAE_MAPS: the upsampled input of the decoder's last level with its norm and activation copies: measured 3.0·C_full
for shapes-sd and SD 1.5 (the encoder, for img2img, needs 2.0–2.5). The constants are rounded up: the estimate
errs high.

Attention scores are not counted. softmax(QKᵀ/√d) over N = h·w tokens would be b_cfg·heads·N² elements if held
whole (configs.arithmetic.attention_matrix_bytes), but F.scaled_dot_product_attention's fused kernels (flash and
memory-efficient, which PyTorch picks on the CPU and on CUDA for these shapes) compute it block by block: the
ledger's peak grows as H·W, not (H·W)².
"""

import math
import os
from dataclasses import dataclass

import torch

from ..trace import human_bytes

UNET_MAPS_ATTENTION, UNET_MAPS_PLAIN = 26, 14  # M_i for a level with and without attention
VAE_MAPS = 4
LATENT_COPIES = 4
FRACTION_OF_AVAILABLE = 0.8  # the default limit: this share of the memory free on the pipeline's device
LIMIT_VARIABLE = "DIFFLAB_MEMORY_LIMIT_GB"  # overrides the default limit, in GiB (2³⁰ bytes, as the trace prints)


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a call will need, part by part (see the module docstring for each formula)."""

    weights: int
    latents: int
    unet: int
    vae: int

    @property
    def working(self) -> int:
        """What the call allocates on top of the weights."""
        return self.latents + max(self.unet, self.vae)

    @property
    def peak(self) -> int:
        return self.weights + self.working


def module_bytes(module) -> int:
    return sum(t.numel() * t.element_size() for t in [*module.parameters(), *module.buffers()])


def unet_maps_per_latent_pixel(config) -> float:
    """max_i(M_i · C_i / 4^i): the widest level's live channels, per pixel of the full latent grid."""
    levels = zip(config.down_block_types, config.block_out_channels)
    return max(
        (UNET_MAPS_ATTENTION if "CrossAttn" in block else UNET_MAPS_PLAIN) * channels / 4**i
        for i, (block, channels) in enumerate(levels)
    )


def estimate_memory(pipe, height: int, width: int, batch: int, guided_batch: int) -> MemoryEstimate:
    """The estimate for `batch` images of height×width; `guided_batch` is the UNet's batch (2·batch for batched CFG)."""
    s = next(pipe.unet.parameters()).element_size()
    f = pipe.vae_scale_factor
    latent_pixels, pixels = (height // f) * (width // f), height * width
    vae_channels = pipe.vae.config.block_out_channels
    c_full = vae_channels[1] if len(vae_channels) > 1 else vae_channels[0]
    weights = sum(module_bytes(part) for part in pipe.components.values() if isinstance(part, torch.nn.Module))
    return MemoryEstimate(
        weights=weights,
        latents=LATENT_COPIES * batch * pipe.unet.config.in_channels * latent_pixels * s,
        unet=int(guided_batch * latent_pixels * s * unet_maps_per_latent_pixel(pipe.unet.config)),
        vae=VAE_MAPS * batch * c_full * pixels * s,
    )


def available_bytes(device: torch.device) -> int | None:
    """Memory free now: on CUDA the device's free memory plus what PyTorch's allocator holds unused; elsewhere
    the RAM the kernel could hand out (MemAvailable in /proc/meminfo, else the free pages). None if unknown."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    try:
        with open("/proc/meminfo") as f:
            fields = dict(line.split(":", 1) for line in f)
        return int(fields["MemAvailable"].split()[0]) * 1024  # the file says kB and means KiB
    except (OSError, KeyError, ValueError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def memory_limit(device: torch.device) -> tuple[int | None, str]:
    """The most one call may allocate on `device`, and where that number comes from (for the error message)."""
    value = os.environ.get(LIMIT_VARIABLE)
    if value:
        try:
            gib = float(value)
        except ValueError:
            gib = math.nan
        if not math.isfinite(gib) or gib <= 0:
            raise ValueError(
                f"{LIMIT_VARIABLE}: got {value!r}; valid values are positive numbers of GiB, e.g. 8 or 0.5. "
                f"Fix: set it to the memory one generation may use, or unset it for {FRACTION_OF_AVAILABLE:.0%} of "
                "what is available."
            )
        return int(gib * 2**30), f"set by {LIMIT_VARIABLE}={value}"
    available = available_bytes(device)
    if available is None:
        return None, "unknown"
    place = "RAM" if device.type == "cpu" else str(device)
    return int(
        FRACTION_OF_AVAILABLE * available
    ), f"{FRACTION_OF_AVAILABLE:.0%} of the {human_bytes(available)} {place} available"


def check_memory(estimate: MemoryEstimate, device: torch.device, what: str):
    """Refuse a call whose working memory is over the limit; `what` says which arguments set the size."""
    limit, source = memory_limit(device)
    if limit is None or estimate.working <= limit:
        return
    need_gib = math.ceil(estimate.working / 2**30 * 10) / 10
    raise ValueError(
        f"{what} needs about {human_bytes(estimate.working)} of working memory (UNet {human_bytes(estimate.unet)}, "
        f"VAE {human_bytes(estimate.vae)}, latents {human_bytes(estimate.latents)}; the weights, already loaded, "
        f"are {human_bytes(estimate.weights)} more), over the limit of {human_bytes(limit)} ({source}). Fix: "
        f"a smaller height and width or fewer images; or, if the memory is there, raise the limit with "
        f"{LIMIT_VARIABLE}={need_gib:g}."
    )
