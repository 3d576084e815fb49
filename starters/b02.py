"""Lab b02 · Model loading path — your implementations.

Replace each `raise NotImplementedError(...)` with your code, then run `difflab check b02` in a terminal
(or `difflab.check("b02")` in the notebook). The library's versions live in lib/difflab/loading/
(registry.py, converters.py, load.py): try first, then compare.
"""

import hashlib  # noqa: F401 (the starter does not use it yet; your hash will)

import torch

LEGACY_ATTENTION_NAMES = {"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}


def hash_state_dict_keys(shapes: dict) -> str:
    """A fingerprint of a checkpoint's layout: its key names and tensor shapes, not its values.

    shapes: name → tensor (a state dict) or name → {"dtype", "shape", "data_offsets"} (a safetensors header);
    both must give the same hash. Write one line per key, in sorted key order, as "name:d0,d1,…"
    (e.g. "conv_in.weight:32,3,3,3"; a 0-d tensor gives "name:"), join the lines with newline characters
    (no trailing newline) and return the sha256 hex digest of that text, UTF-8 encoded.
    """
    raise NotImplementedError(
        "b02: one 'name:d0,d1,…' line per key in sorted order (shape from .shape or ['shape']), sha256 hex"
    )


def convert_legacy_keys(state_dict: dict) -> dict:
    """Rename a legacy VAE checkpoint's attention keys to today's names; a new dict, the same tensors.

    Inside an attention block (a key with an "attentions" part, such as
    "encoder.mid_block.attentions.0.query.weight") the projection before ".weight"/".bias" is renamed
    query → to_q, key → to_k, value → to_v, proj_attn → to_out.0 (LEGACY_ATTENTION_NAMES).
    Every other key is kept as it is, even one whose parts are called "key" or "value" elsewhere.
    The input dict is not modified.
    """
    raise NotImplementedError("b02: split each key on '.', rename the part before weight/bias only inside 'attentions'")


def load_into(model: torch.nn.Module, state_dict: dict) -> torch.nn.Module:
    """Fill `model` (usually built on the meta device) with `state_dict`, all or nothing; return the model.

    First compare the state dict with model.state_dict(): keys the model has and the file lacks (missing),
    keys the file has and the model lacks (unexpected), and keys whose shapes differ (mismatched). If there is
    any, raise one ValueError that names them all, before any tensor is placed. Otherwise
    load_state_dict(state_dict, assign=True): assign the file's tensors as the parameters (a meta model has
    no storage to copy into).
    """
    raise NotImplementedError(
        "b02: find missing, unexpected and mismatched keys; raise one ValueError naming them, else assign"
    )
