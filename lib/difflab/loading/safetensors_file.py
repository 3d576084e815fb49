"""Reading checkpoints: safetensors only, header first.

A .safetensors file is an 8-byte little-endian header length N, N bytes of JSON, then raw tensor bytes:

    {"unet.conv_in.weight": {"dtype": "F32", "shape": [320, 4, 3, 3], "data_offsets": [0, 46080]}, …}

So names, shapes and dtypes are known after reading a few kilobytes, and a truncated file is detected before
any tensor is read. Pickle checkpoints (.bin, .ckpt, .pt, .pth) are refused: unpickling runs arbitrary code.

The header is checked in full before any tensor is read, as strictly as the safetensors library checks it:
a JSON object of UTF-8 text; each entry a {"dtype", "shape", "data_offsets"} object with a known dtype, a shape
of non-negative ints and exactly numel × itemsize bytes; the byte spans back to back from byte 0, without gap or
overlap, ending exactly at the end of the file. Anything else is a CheckpointError naming the file and the tensor.
"""

import json
import struct
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

PICKLE_SUFFIXES = (".bin", ".ckpt", ".pt", ".pth", ".pkl")
MAX_HEADER_BYTES = 100_000_000  # the safetensors library's own limit on N
DTYPES = {  # the header's dtype names → torch dtypes (bytes per element: DTYPE_BYTES)
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
}
DTYPE_BYTES = {name: dtype.itemsize for name, dtype in DTYPES.items()}  # "F32" → 4, "BF16" → 2, …


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
    """Tensor name → {"dtype", "shape", "data_offsets"} without reading any tensor data; checked in full."""
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
        if header_len > MAX_HEADER_BYTES:
            raise CheckpointError(
                f"checkpoint: {path.name} says its header is {header_len:,} bytes; safetensors allows at most "
                f"{MAX_HEADER_BYTES:,}. The file is damaged or not safetensors."
            )
        try:  # UTF-8 only (json.loads would guess UTF-16 from bytes); a repeated name would hide a tensor
            header = json.loads(f.read(header_len).decode("utf-8"), object_pairs_hook=refuse_repeated_names)
        except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise CheckpointError(
                f"checkpoint: {path.name} has an unreadable header ({e}); the file is damaged."
            ) from e
    if not isinstance(header, dict):
        raise CheckpointError(
            f"checkpoint: {path.name}'s header is a JSON {type(header).__name__}, not an object mapping tensor "
            "names to {dtype, shape, data_offsets}; the file is damaged or not safetensors."
        )
    check_metadata(path, header.pop("__metadata__", {}))
    for name, info in header.items():
        check_entry(path, name, info)
    check_data_size(path, header, size - 8 - header_len)
    return header


def refuse_repeated_names(pairs: list) -> dict:
    """json's object hook: a name given twice would let the second entry hide the first."""
    seen = set()
    for name, _ in pairs:
        if name in seen:
            raise ValueError(f"the name {name!r} appears twice")
        seen.add(name)
    return dict(pairs)


def check_metadata(path: Path, metadata):
    """The optional "__metadata__" entry: free-form, but strings only (the format says so)."""
    if not (isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())):
        raise CheckpointError(
            f"checkpoint: {path.name}: the header entry '__metadata__' is {shown(metadata)}; it must map strings "
            "to strings. The file is damaged or was not written by a safetensors library."
        )


def check_entry(path: Path, name: str, info):
    """One tensor's entry: a known dtype, a shape of non-negative ints, two byte offsets with start ≤ stop."""
    problem = None
    if not isinstance(info, dict):
        problem = f"is described by {shown(info)}, not a {{dtype, shape, data_offsets}} object"
    elif missing := [key for key in ("dtype", "shape", "data_offsets") if key not in info]:
        problem = f"has no {' and no '.join(missing)}"
    elif info["dtype"] not in DTYPE_BYTES:
        problem = f"has dtype {shown(info['dtype'])}; the dtypes difflab reads are {', '.join(DTYPE_BYTES)}"
    elif not (isinstance(info["shape"], list) and all(map(is_count, info["shape"]))):
        problem = f"has shape {shown(info['shape'])}; a shape is a list of non-negative ints"
    elif not (
        isinstance(offsets := info["data_offsets"], list)
        and len(offsets) == 2
        and all(map(is_count, offsets))
        and offsets[0] <= offsets[1]
    ):
        problem = (
            f"has data_offsets {shown(info['data_offsets'])}; they must be [start, stop], ints with 0 ≤ start ≤ stop"
        )
    if problem:
        raise CheckpointError(
            f"checkpoint: {path.name}: tensor {name!r} {problem}. The file is damaged or was not written by a "
            "safetensors library; download or convert it again."
        )


def is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def shown(value, limit: int = 80) -> str:
    """repr(value), cut short: a hostile header can hold a megabyte in one field."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_data_size(path: Path, header: dict, data_bytes: int):
    """Every tensor's byte range must match its dtype × shape, follow the previous one without gap or overlap,
    and fit in the file; the last one must end where the file ends."""
    end, previous = 0, None
    for name, info in sorted(header.items(), key=lambda item: item[1]["data_offsets"]):
        start, stop = info["data_offsets"]
        numel = 1
        for d in info["shape"]:
            numel *= d
        expected = numel * DTYPE_BYTES[info["dtype"]]
        if stop - start != expected:
            raise CheckpointError(
                f"checkpoint: {path.name}: tensor {name!r} has {stop - start} bytes, "
                f"expected {expected} for {info['dtype']} {info['shape']}; the file is damaged."
            )
        if start < end:
            raise CheckpointError(
                f"checkpoint: {path.name}: tensor {name!r} starts at data byte {start}, inside tensor {previous!r} "
                f"(which ends at {end}): their bytes overlap, so the header is damaged."
            )
        if start > end:
            after = f"tensor {previous!r}" if previous else "the header"
            raise CheckpointError(
                f"checkpoint: {path.name}: tensor {name!r} starts at data byte {start}, {start - end} bytes after "
                f"{after} ends; safetensors packs tensors back to back from byte 0, so the header is damaged."
            )
        end, previous = stop, name
    if end > data_bytes:
        raise CheckpointError(
            f"checkpoint: {path.name} is truncated: its tensors need {end} data bytes but only {data_bytes} are "
            "there. Download or copy it again."
        )
    if end < data_bytes:
        raise CheckpointError(
            f"checkpoint: {path.name} has {data_bytes - end} data bytes after its last tensor ({previous!r}) that the "
            "header does not account for; the file is damaged or was appended to. Download or copy it again."
        )


def read_state_dict(path, device: str = "cpu") -> dict[str, torch.Tensor]:
    """All tensors of a safetensors file (the header is checked first)."""
    read_header(path)
    try:
        return load_file(str(path), device=device)
    except SafetensorError as e:  # after read_header's checks, only a file changed while we read it gets here
        raise CheckpointError(f"checkpoint: {Path(path).name}: the safetensors library refused it ({e}).") from e
