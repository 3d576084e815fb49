"""What crosses the boundary between the checker and the learner's process, and how it is read.

Messages are frames: an 8-byte length, then a pickle. The two directions are trusted differently:

- checker → learner's process: the checker's own objects, pickled with `dumps`; the child reads them with
  plain `pickle.loads`.
- learner's process → checker: read with `loads`, whose `SafeUnpickler` builds only plain values, tensors and
  instances of library classes (torch, numpy, difflab, transformers, tokenizers). It never calls a function
  or builds a class from the learner's file, so no learner code runs in the checker; an object of a class
  the learner defined is refused by name (`LearnerObject`).

Tensors travel as the raw bytes of their storage plus (dtype, offset, size, stride). A storage shared by
several tensors of one message travels once, so views, tied weights and a model holding a state dict's own
tensors are still shared after the trip. Meta tensors travel as their shape alone.
"""

import builtins
import io
import os
import pickle
import struct
import sys
import types

import torch

HEADER = struct.Struct("!Q")  # the length of the pickle that follows, in bytes
MAX_MESSAGE = 512 * 2**20  # a frame claiming more than this is refused before reading it
CHECKER_FAILED = 70  # the exit status of a learner's process whose checker side failed (child.py)


class Unsendable(Exception):
    """A value the learner's process cannot send back (a lambda, a generator, an object of the learner's class)."""


class LearnerObject(pickle.UnpicklingError):
    """The reply holds a function, class or object defined in the learner's file; `name` says which."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


# --- tensors: storage bytes out, library-built tensors in ---------------------------------------------------


class StorageBytes:
    """One storage's bytes in a pickle; the pickler keeps one per storage so sharing survives."""

    def __init__(self, storage: torch.UntypedStorage):
        self.storage = storage

    def __reduce__(self):
        as_bytes = torch.empty(0, dtype=torch.uint8).set_(self.storage)  # (nbytes,) uint8 view of the storage
        return rebuild_storage, (as_bytes.numpy().tobytes(),)


def rebuild_storage(data: bytes) -> torch.UntypedStorage:
    if not isinstance(data, bytes):
        raise pickle.UnpicklingError(f"storage data should be bytes, not {type(data).__name__}")
    if not data:
        return torch.UntypedStorage(0)
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).untyped_storage()


def rebuild_tensor(storage, dtype, offset, size, stride, requires_grad, is_parameter) -> torch.Tensor:
    if not isinstance(storage, torch.UntypedStorage) or not isinstance(dtype, torch.dtype):
        raise pickle.UnpicklingError("a tensor needs a storage and a dtype")
    offset, size, stride = int(offset), tuple(int(n) for n in size), tuple(int(n) for n in stride)
    if len(size) != len(stride) or min((offset, *size, *stride)) < 0:
        raise pickle.UnpicklingError("a tensor with a negative size, stride or offset")
    last = 0 if 0 in size else offset + 1 + sum((n - 1) * step for n, step in zip(size, stride))  # elements
    if last * dtype.itemsize > storage.nbytes():  # checked here: set_ would grow an empty storage to fit
        raise pickle.UnpicklingError("a tensor reaching past the end of its storage")
    tensor = torch.empty(0, dtype=dtype).set_(storage, offset, size, stride)
    return as_parameter(tensor, requires_grad, is_parameter)


def rebuild_meta(dtype, size, stride, requires_grad, is_parameter) -> torch.Tensor:
    if not isinstance(dtype, torch.dtype):
        raise pickle.UnpicklingError("a meta tensor needs a dtype")
    tensor = torch.empty_strided(tuple(size), tuple(stride), dtype=dtype, device="meta")
    return as_parameter(tensor, requires_grad, is_parameter)


def as_parameter(tensor: torch.Tensor, requires_grad, is_parameter) -> torch.Tensor:
    grad = bool(requires_grad) and (tensor.is_floating_point() or tensor.is_complex())
    return torch.nn.Parameter(tensor, requires_grad=grad) if is_parameter else tensor.requires_grad_(grad)


class Pickler(pickle.Pickler):
    """A pickler that sends tensors as storage bytes, and refuses what only the learner's process can rebuild."""

    def __init__(self, file, learner_module: str = ""):
        super().__init__(file, protocol=5)
        self.learner_module = learner_module
        self.storages = {}  # (data_ptr, nbytes) → StorageBytes: each storage pickled once, then by reference

    def reducer_override(self, obj):
        if isinstance(obj, torch.Tensor):
            return self.reduce_tensor(obj)
        if isinstance(obj, types.FunctionType) and obj.__name__ == "<lambda>":
            raise Unsendable("a lambda")
        if self.learner_module and defined_by_learner(obj, self.learner_module):
            if isinstance(obj, (type, types.FunctionType)):
                kind = "class" if isinstance(obj, type) else "function"
                raise Unsendable(f"the {kind} {obj.__name__}, defined in your file,")
            raise Unsendable(f"an object of type {type(obj).__name__} defined in your file")
        if is_read_only_dict(obj):  # difflab's configs: pickle would refill them item by item, which they refuse
            return type(obj), (dict(obj),), (vars(obj) or None)
        return NotImplemented

    def reduce_tensor(self, tensor: torch.Tensor):
        if type(tensor) not in (torch.Tensor, torch.nn.Parameter):
            raise Unsendable(f"a {type(tensor).__name__} (a subclass of torch.Tensor)")
        if tensor.layout != torch.strided or tensor.is_quantized:
            raise Unsendable(f"a {tensor.layout} tensor; return a dense one (.to_dense())")
        parameter, grad = isinstance(tensor, torch.nn.Parameter), tensor.requires_grad
        if tensor.is_meta:
            return rebuild_meta, (tensor.dtype, tuple(tensor.shape), tensor.stride(), grad, parameter)
        tensor = tensor.detach().cpu().resolve_conj().resolve_neg()  # a GPU tensor comes back on the CPU
        storage = tensor.untyped_storage()
        key = (storage.data_ptr(), storage.nbytes())
        stored = self.storages.setdefault(key, StorageBytes(storage))
        shape = (tuple(tensor.shape), tensor.stride())
        return rebuild_tensor, (stored, tensor.dtype, tensor.storage_offset(), *shape, grad, parameter)


def is_read_only_dict(obj) -> bool:
    """A dict subclass with its own __setitem__ and no pickling of its own (difflab's SchedulerConfig)."""
    kind = type(obj)
    return (
        isinstance(obj, dict)
        and kind.__setitem__ is not dict.__setitem__
        and kind.__reduce_ex__ is dict.__reduce_ex__
        and kind.__reduce__ is dict.__reduce__
    )


def defined_by_learner(obj, learner_module: str) -> bool:
    owner = obj if isinstance(obj, (type, types.FunctionType)) else type(obj)
    return getattr(owner, "__module__", None) == learner_module


def dumps(value, learner_module: str = "") -> bytes:
    buffer = io.BytesIO()
    Pickler(buffer, learner_module).dump(value)
    return buffer.getvalue()


# --- the checker's side: build only what is on the list -----------------------------------------------------

LIBRARIES = ("torch", "numpy", "difflab", "transformers", "tokenizers")
BUILTIN_TYPES = {"list", "dict", "set", "frozenset", "tuple", "bytes", "bytearray", "str", "int", "float", "complex"}
BUILTIN_TYPES |= {"bool", "slice", "range"}
COLLECTIONS = {"OrderedDict", "defaultdict", "deque", "Counter"}
FUNCTIONS = {  # the only functions a reply may call: our tensor builders and numpy's array builders
    (__name__, "rebuild_storage"),
    (__name__, "rebuild_tensor"),
    (__name__, "rebuild_meta"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}
REFUSED = {("numpy", "memmap")}  # a library class whose constructor writes files
ACCEPTED = {("torch.nn.modules.module", "_IncompatibleKeys")}  # what load_state_dict returns (a namedtuple)


class SafeUnpickler(pickle.Unpickler):
    """Unpickles a reply from the learner's process, resolving only the names listed above.

    A class is accepted when it lives in one of LIBRARIES, is already imported here (nothing is imported on the
    learner's say-so) and its name is public; torch's dtypes are accepted as the values they are.
    """

    def __init__(self, file, learner_module: str):
        super().__init__(file)
        self.learner_module = learner_module

    def find_class(self, module: str, name: str):
        if module == self.learner_module or module.startswith(self.learner_module + "."):
            raise LearnerObject(name)
        if (module, name) in FUNCTIONS:
            return getattr(sys.modules[module], name)
        if module == "builtins" and name in BUILTIN_TYPES:
            return getattr(builtins, name)
        if module == "collections" and name in COLLECTIONS:
            return getattr(sys.modules["collections"], name)
        if (module, name) in ACCEPTED:
            return getattr(sys.modules[module], name)
        public = "." not in name and not name.startswith("_") and (module, name) not in REFUSED
        if public and module.split(".")[0] in LIBRARIES and module in sys.modules:
            found = getattr(sys.modules[module], name, None)
            if isinstance(found, (type, torch.dtype, torch.layout, torch.memory_format)):
                return found
        if module.split(".")[0] in LIBRARIES:  # a library object a learner's code may well return
            raise Refused(f"{module}.{name}")
        raise pickle.UnpicklingError(f"{module}.{name} is not something the checker accepts from a reply")


class Refused(pickle.UnpicklingError):
    """A reply holds a library object the checker will not build (its dotted name is the message)."""


def loads(data: bytes, learner_module: str):
    return SafeUnpickler(io.BytesIO(data), learner_module).load()


# --- frames ---------------------------------------------------------------------------------------------------


def frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload)) + payload


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def read_exactly(fd: int, count: int) -> bytes | None:
    """`count` bytes from fd, or None if it closes first (blocking: the learner's side waits for the checker)."""
    data = bytearray()
    while len(data) < count:
        chunk = os.read(fd, min(count - len(data), 1 << 20))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def read_frame(fd: int) -> bytes | None:
    header = read_exactly(fd, HEADER.size)
    return None if header is None else read_exactly(fd, HEADER.unpack(header)[0])
