"""A causal 3-D convolution and the frame cache that lets it run over a video a few frames at a time.

Causal in time: output frame t sees input frames t-2, t-1, t and never a later one. A kernel of 3 frames
therefore pads 2 frames *before* the clip and none after (space is padded symmetrically, as usual):

    input frames          0 0 | f0 f1 f2 f3 f4 …      (two zero frames in front)
    output frame t        conv(f_{t-2}, f_{t-1}, f_t)

The Wan VAE never sees the whole clip at once: it encodes the first frame alone, then 4 frames at a time, and
decodes one latent frame at a time. For every chunk to give exactly what the whole clip would have given,
each causal conv must remember the last 2 frames of its input from the chunks before and put them in front of
the next chunk in place of the zero padding. Those remembered frames are the FrameCache: one dict from layer to
frames, made fresh for each encode or decode and passed down explicitly.

diffusers keeps the same frames in a list indexed by a counter (`feat_cache[feat_idx[0]]`) that every block
advances in call order; here the layer itself is the key, so no block has to count.
"""

import torch
import torch.nn.functional as F
from torch import nn

CACHE_T = 2  # frames each cache entry keeps: a 3-frame kernel needs the 2 before the chunk (diffusers' CACHE_T)


class FrameCache:
    """The last frames each causal layer saw in earlier chunks, keyed by the layer. Empty = the clip's start.

    One FrameCache belongs to one pass over one clip (an encode or a decode). `reset()` forgets everything,
    so the next chunk is treated as the first frame of a new clip.
    """

    def __init__(self):
        self._frames: dict[nn.Module, torch.Tensor] = {}

    def past(self, layer: nn.Module) -> torch.Tensor | None:
        """The frames `layer` kept from earlier chunks, (B, C, ≤2, H, W); None before its first chunk."""
        return self._frames.get(layer)

    def keep(self, layer: nn.Module, frames: torch.Tensor):
        """Remember `frames` for `layer`'s next chunk (replaces what it kept before)."""
        self._frames[layer] = frames  # not detached: gradients flow across chunks, as in diffusers

    def __contains__(self, layer: nn.Module) -> bool:
        return layer in self._frames

    def __len__(self) -> int:
        return len(self._frames)

    def reset(self):
        """Forget every layer's frames: the next chunk starts a new clip."""
        self._frames.clear()


def last_frames(past: torch.Tensor | None, x: torch.Tensor, n: int = CACHE_T) -> torch.Tensor:
    """The last n frames of the stream so far: the kept frames followed by this chunk, (B, C, ≤n, H, W)."""
    stream = x if past is None else torch.cat([past, x], dim=2)
    return stream[:, :, -n:].clone()


class CausalConv3d(nn.Conv3d):
    """nn.Conv3d padded causally in time; with a FrameCache it continues the clip from the previous chunk.

    `padding` is given as for a symmetric conv, (t, h, w); the 2·t time padding all goes in front. Weights and
    state-dict keys are those of nn.Conv3d (diffusers' WanCausalConv3d).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding)
        pad_t, pad_h, pad_w = self.padding
        self.time_padding = 2 * pad_t  # zero frames in front of the clip; none after
        self.space_padding = (pad_w, pad_w, pad_h, pad_h)  # F.pad order: (W left, W right, H top, H bottom)
        self.padding = (0, 0, 0)  # all padding is done in forward

    def forward(self, x: torch.Tensor, cache: FrameCache | None = None) -> torch.Tensor:
        """(B, C_in, T, H, W) → (B, C_out, T', H', W'). Without a cache, x is a whole clip (or its start)."""
        past = None
        if cache is not None and self.time_padding > 0:  # 1-frame kernels (shortcuts, quant convs) need no past
            past = cache.past(self)
            cache.keep(self, last_frames(past, x))
            if past is not None:
                x = torch.cat([past, x], dim=2)  # the previous chunk's last frames replace zero padding
        zeros_in_front = self.time_padding - (0 if past is None else past.shape[2])
        x = F.pad(x, (*self.space_padding, zeros_in_front, 0))
        return super().forward(x)
