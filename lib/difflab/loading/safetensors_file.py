"""Reading checkpoints: safetensors only, header first.

A .safetensors file is an 8-byte little-endian header length N, N bytes of JSON, then raw tensor bytes:

    {"unet.conv_in.weight": {"dtype": "F32", "shape": [320, 4, 3, 3], "data_offsets": [0, 46080]}, …}

So names, shapes and dtypes are known after reading a few kilobytes, and a truncated file is detected before
any tensor is read. Pickle checkpoints (.bin, .ckpt, .pt, .pth) are refused: unpickling runs arbitrary code.
"""

import json
import struct
from pathlib import Path

import torch
from safetensors.torch import load_file

PICKLE_SUFFIXES = (".bin", ".ckpt", ".pt", ".pth", ".pkl")
DTYPE_BYTES = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
}


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded: unsafe format, damaged file, or keys that do not fit the model."""


def refuse_pickle(path: Path):
    if path.suffix in PICKLE_SUFFIXES:
        raise CheckpointError(
            f"checkpoint: got {path.name}, a pickle file. difflab loads only .safetensors: unpickling a file can run "
            "arbitrary code on your machine. Convert it once, somewhere you trust the file: "
            "`sd = torch.load(path, weights_only=True); safetensors.torch.save_file(sd, 'model.safetensors')`."
        )


def read_header(path) -> dict:
    """Tensor name → {"dtype", "shape", "data_offsets"} without reading any tensor data."""
    path = Path(path)
    refuse_pickle(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint: {path} does not exist.")
    size = path.stat().st_size
    with open(path, "rb") as f:
        prefix = f.read(8)
        if len(prefix) < 8:
            raise CheckpointError(f"checkpoint: {path.name} is {size} bytes, too short to be a safetensors file.")
        (header_len,) = struct.unpack("<Q", prefix)
        if header_len > size - 8:
            raise CheckpointError(
                f"checkpoint: {path.name} says its header is {header_len} bytes but the file has {size - 8} after the "
                "length prefix; the file is truncated or not safetensors. Download or copy it again."
            )
        try:
            header = json.loads(f.read(header_len))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise CheckpointError(
                f"checkpoint: {path.name} has an unreadable header ({e}); the file is damaged."
            ) from e
    header.pop("__metadata__", None)
    check_data_size(path, header, size - 8 - header_len)
    return header


def check_data_size(path: Path, header: dict, data_bytes: int):
    """Every tensor's byte range must fit in the file and match its dtype × shape."""
    end = 0
    for name, info in header.items():
        start, stop = info["data_offsets"]
        numel = 1
        for d in info["shape"]:
            numel *= d
        expected = numel * DTYPE_BYTES.get(info["dtype"], 0)
        if DTYPE_BYTES.get(info["dtype"]) and stop - start != expected:
            raise CheckpointError(
                f"checkpoint: {path.name}: tensor {name!r} has {stop - start} bytes, "
                f"expected {expected} for {info['dtype']} {info['shape']}; the file is damaged."
            )
        end = max(end, stop)
    if end > data_bytes:
        raise CheckpointError(
            f"checkpoint: {path.name} is truncated: its tensors need {end} data bytes but only {data_bytes} are "
            "there. Download or copy it again."
        )


def read_state_dict(path, device: str = "cpu") -> dict[str, torch.Tensor]:
    """All tensors of a safetensors file (the header is checked first)."""
    read_header(path)
    return load_file(str(path), device=device)
