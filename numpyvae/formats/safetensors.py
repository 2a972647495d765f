"""The safetensors file format, read and written with NumPy alone (no ``safetensors`` package needed).

A safetensors file is three parts (https://github.com/huggingface/safetensors, "Format"):

    8 bytes      N, the length of the header: an unsigned 64-bit little-endian integer
    N bytes      the header: UTF-8 JSON, an object that starts with "{" and may be padded at its end with
                 spaces (0x20); for every tensor  "name": {"dtype": "F32", "shape": [500, 784],
                 "data_offsets": [begin, end]}, and optionally "__metadata__": a map of strings to strings
    the rest     the byte buffer: every tensor's elements, little-endian, row-major (C order), at
                 [begin, end) counted from the buffer's first byte

The tensors' byte ranges must tile the buffer: sorted by ``begin`` the first starts at 0, each starts
where the one before ended, and the last ends at the end of the file; no holes, no overlaps, no bytes
that belong to nobody. ``end - begin`` must be the element count (the product of the shape) times the
element size. ``decode`` checks every one of these rules and raises CheckpointError naming the first
broken one; nothing it reads from the header is ever used to size an allocation before it is checked
against the file's real length.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from ..errors import CheckpointError
from .atomic import write_bytes_atomic

# the dtypes numpy holds exactly; their names as the safetensors spec spells them
DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
          "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}
NAMES = {np.dtype(code): name for name, code in DTYPES.items()}
# valid in the spec, but numpy has no such type; a file holding them is refused with a hint
UNSUPPORTED = ("BF16", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64")
MAX_HEADER_BYTES = 100 * 2**20  # the reference implementation's limit: larger headers are refused unread
METADATA = "__metadata__"
ALIGNMENT = 8  # the header is padded with spaces so the buffer starts at a multiple of 8 bytes


def encode(tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> bytes:
    """The bytes of a safetensors file holding ``tensors`` (written in name order) and ``metadata``."""
    if metadata is not None and not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise ValueError("safetensors metadata must map strings to strings")
    header: dict = {} if metadata is None else {METADATA: dict(metadata)}
    chunks, offset = [], 0
    for name in sorted(tensors):
        array = np.asarray(tensors[name])
        little = array.dtype.newbyteorder("<")
        if name == METADATA or little not in NAMES:
            raise ValueError(f"cannot store tensor {name!r} of dtype {array.dtype} in safetensors")
        data = np.ascontiguousarray(array, dtype=little).tobytes()
        header[name] = {"dtype": NAMES[little], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8")
    text += b" " * (-(8 + len(text)) % ALIGNMENT)
    return len(text).to_bytes(8, "little") + text + b"".join(chunks)


def write(path: str | os.PathLike, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> None:
    """Write a safetensors file atomically (a temporary file beside ``path``, then a rename); OutputError if
    it cannot be written."""
    write_bytes_atomic(path, encode(tensors, metadata))


def _duplicate_keys_refused(pairs: list[tuple[str, object]]) -> dict:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"the key {next(k for k in keys if keys.count(k) > 1)!r} appears twice")
    return dict(pairs)


def _constant_refused(name: str):
    raise ValueError(f"{name} is not JSON")


def _is_count(value) -> bool:
    """A JSON non-negative integer (not a boolean, not a float)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def parse_header(text: bytes) -> tuple[dict[str, dict], dict[str, str]]:
    """The tensor entries and the metadata of a header; ValueError naming the first rule it breaks."""
    if not text.startswith(b"{"):
        raise ValueError("the header does not start with '{'")
    try:
        header = json.loads(text.decode("utf-8"), object_pairs_hook=_duplicate_keys_refused,
                            parse_constant=_constant_refused)
    except UnicodeDecodeError:
        raise ValueError("the header is not UTF-8") from None
    except RecursionError:
        raise ValueError("the header nests too deeply") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"the header is not JSON ({error.msg}: byte {error.pos})") from None
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    metadata = header.pop(METADATA, {})
    if not isinstance(metadata, dict) or not all(isinstance(value, str) for value in metadata.values()):
        raise ValueError(f"{METADATA} is not a map of strings to strings")
    for name, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise ValueError(f"tensor {name!r} is not an object of exactly dtype, shape and data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype in UNSUPPORTED:
            raise ValueError(f"tensor {name!r} is {dtype}, which NumPy cannot hold; save it as F32 or F64")
        if not isinstance(dtype, str) or dtype not in DTYPES:
            raise ValueError(f"tensor {name!r} has the unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(_is_count(n) for n in shape):
            raise ValueError(f"tensor {name!r} has the shape {shape!r}, not a list of non-negative integers")
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(n) for n in offsets) \
                or offsets[0] > offsets[1]:
            raise ValueError(f"tensor {name!r} has the data_offsets {offsets!r}, not [begin, end] with begin <= end")
        if offsets[1] - offsets[0] != math.prod(shape) * np.dtype(DTYPES[dtype]).itemsize:
            raise ValueError(f"tensor {name!r}: {offsets[1] - offsets[0]} bytes cannot hold a {dtype} tensor "
                             f"of shape {shape}")
    return header, metadata


def _check_tiling(entries: dict[str, dict], buffer_length: int) -> None:
    """The byte ranges must cover [0, buffer_length) exactly, in some order, with no hole and no overlap."""
    position = 0
    for name, entry in sorted(entries.items(), key=lambda item: tuple(item[1]["data_offsets"])):
        begin, end = entry["data_offsets"]
        if begin != position:
            what = "overlaps the tensor before it" if begin < position else f"leaves bytes {position}..{begin} unused"
            raise ValueError(f"tensor {name!r} at bytes {begin}..{end} {what}")
        position = end
    if position != buffer_length:
        raise ValueError(f"the tensors end at byte {position} of the data, but the data is {buffer_length} bytes")


def _check_header_size(size: int, available: int) -> None:
    """A header length read from the file must be within the limit and within the bytes that follow it."""
    if size > MAX_HEADER_BYTES:
        raise ValueError(f"its first 8 bytes give a header of {size} bytes, more than the {MAX_HEADER_BYTES} allowed")
    if size > available:
        raise ValueError(f"its first 8 bytes give a header of {size} bytes, but only {available} follow")


def decode(content: bytes, source: str | os.PathLike = "the file",
           verdict: str = "not a valid safetensors file") -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Every tensor (a fresh native-order array) and the metadata of a safetensors file's ``content``.

    CheckpointError: "<source> is <verdict>: <the first rule of the format the content breaks>".
    """
    try:
        if len(content) < 8:
            raise ValueError(f"it is {len(content)} bytes long, shorter than the 8-byte header length")
        size = int.from_bytes(content[:8], "little")
        _check_header_size(size, len(content) - 8)
        entries, metadata = parse_header(content[8:8 + size])
        buffer = memoryview(content)[8 + size:]
        _check_tiling(entries, len(buffer))
    except ValueError as error:
        raise CheckpointError(f"{source} is {verdict}: {error}") from None
    tensors = {}
    for name, entry in entries.items():
        begin, end = entry["data_offsets"]
        dtype = np.dtype(DTYPES[entry["dtype"]])
        array = np.frombuffer(buffer[begin:end], dtype=dtype).reshape(entry["shape"])
        tensors[name] = array.astype(dtype.newbyteorder("="))  # a writable copy in the machine's byte order
    return tensors, metadata


def read(path: str | os.PathLike,
         verdict: str = "not a valid safetensors file") -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The tensors and metadata of the safetensors file at ``path`` (see ``decode``).

    The header length is checked against the file's size before the rest of the file is read.
    """
    path = Path(path)
    try:
        with open(path, "rb") as file:
            head = file.read(8)
            if len(head) == 8:
                try:
                    _check_header_size(int.from_bytes(head, "little"), os.fstat(file.fileno()).st_size - 8)
                except ValueError as error:
                    raise CheckpointError(f"{path} is {verdict}: {error}") from None
            content = head + file.read()
    except OSError as error:
        raise CheckpointError(f"cannot read {path} ({error.strerror or error})") from None
    return decode(content, path, verdict)
