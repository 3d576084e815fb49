"""3-D rotary position embedding: where a video token sits in (frame, row, column), written into q and k.

RoPE (Su et al. 2021) rotates each pair of channels (x_{2i}, x_{2i+1}) of a query or key by an angle that grows
with the token's position p:

    θ_i = 1 / base^(2i/d)                                   one frequency per pair, d = channels of the axis
    (x_{2i}, x_{2i+1}) → (x_{2i}·cos pθ_i − x_{2i+1}·sin pθ_i,   x_{2i}·sin pθ_i + x_{2i+1}·cos pθ_i)

so q·k depends only on the difference of the two positions. A video token has three positions, so Wan splits the
head's channels in three, each axis with its own frequencies counted over its own width (diffusers'
WanRotaryPosEmbed, the original `rope_params` + `rope_apply`):

    h_dim = w_dim = 2·(head_dim // 6),   t_dim = head_dim − 2·h_dim        head_dim 128 → 44 | 42 | 42

and a token at grid position (f, h, w) gets [angles of f over t_dim | of h over h_dim | of w over w_dim].
No weights: the angles are computed from the grid shape on every call (diffusers keeps them in non-persistent
buffers of rope_max_seq_len rows per axis; the values are the same, computed in float64 and rounded to float32).
"""

import torch
from einops import rearrange, repeat
from torch import nn


def axis_angles(num_positions: int, dim: int, theta: float, device=None) -> torch.Tensor:
    """p·θ_i for p = 0 … num_positions-1 and the dim/2 frequencies of one axis, in float64: (num_positions, dim/2)."""
    frequencies = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float64, device=device) / dim))  # θ_i
    positions = torch.arange(num_positions, dtype=torch.float64, device=device)
    return torch.outer(positions, frequencies)


def apply_rotary_emb(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the pairs (x_{2i}, x_{2i+1}) of x (B, N, heads, d) by the angles whose cos, sin are (1, N, 1, d/2)."""
    pairs = rearrange(x, "b n heads (i two) -> b n heads i two", two=2)
    x1, x2 = pairs.unbind(-1)  # the even and the odd channels: (B, N, heads, d/2) each
    rotated = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
    return rearrange(rotated, "b n heads i two -> b n heads (i two)").type_as(x)


class WanRotaryPosEmbed(nn.Module):
    """(B, C, F, H, W) latents → cos, sin of every token's angles, each (1, F'·H'·W', 1, head_dim/2), float32."""

    def __init__(self, attention_head_dim: int, patch_size: tuple[int, int, int], max_seq_len: int, theta=10000.0):
        super().__init__()
        self.attention_head_dim = attention_head_dim
        self.patch_size = tuple(patch_size)
        self.max_seq_len = max_seq_len  # the longest axis (in patches) the model was built for
        self.theta = theta
        self.h_dim = self.w_dim = 2 * (attention_head_dim // 6)
        self.t_dim = attention_head_dim - self.h_dim - self.w_dim

    def forward(self, hidden_states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, _, num_frames, height, width = hidden_states.shape
        p_t, p_h, p_w = self.patch_size
        grid = {"f": num_frames // p_t, "h": height // p_h, "w": width // p_w}  # patches along each axis
        for axis, size in grid.items():
            if size > self.max_seq_len:
                raise ValueError(
                    f"hidden_states: {size} patches along axis {axis!r} (shape {tuple(hidden_states.shape)}), more "
                    f"than rope_max_seq_len={self.max_seq_len} positions per axis; use a smaller video or build the "
                    "model with a larger rope_max_seq_len."
                )
        device = hidden_states.device
        f = axis_angles(grid["f"], self.t_dim, self.theta, device)  # (F', t_dim/2)
        h = axis_angles(grid["h"], self.h_dim, self.theta, device)  # (H', h_dim/2)
        w = axis_angles(grid["w"], self.w_dim, self.theta, device)  # (W', w_dim/2)
        # Every token (f, h, w), row-major like the patch sequence, gets [f's angles | h's | w's]: (F'·H'·W', d/2)
        angles = torch.cat(
            [
                repeat(f, "f i -> (f h w) i", h=grid["h"], w=grid["w"]),
                repeat(h, "h i -> (f h w) i", f=grid["f"], w=grid["w"]),
                repeat(w, "w i -> (f h w) i", f=grid["f"], h=grid["h"]),
            ],
            dim=-1,
        )
        angles = rearrange(angles, "n i -> 1 n 1 i")  # broadcast over the batch and the heads
        return angles.cos().float(), angles.sin().float()
