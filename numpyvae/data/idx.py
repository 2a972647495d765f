"""The IDX file format of MNIST and Fashion-MNIST: parsing, writing, gzip, checksums.

IDX layout: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions n, then n
big-endian uint32 sizes, then exactly prod(sizes) bytes of data. Files may be gzip-compressed
(recognised by their magic bytes, not their names).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError

IDX_UINT8 = 0x08
GZIP_MAGIC = b"\x1f\x8b"


def parse_idx(content: bytes, source: str | os.PathLike) -> np.ndarray:
    """The uint8 array held in the bytes of an IDX file; DataError naming ``source`` if they are not one.

    IDX layout: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions n, then n
    big-endian uint32 sizes, then exactly prod(sizes) bytes of data.
    """
    if len(content) < 4 or content[:2] != b"\x00\x00":
        raise DataError(f"{source} is not an IDX file (wrong magic number); replace it with the original file")
    type_code, ndim = content[2], content[3]
    if type_code != IDX_UINT8 or not 1 <= ndim <= 4:
        raise DataError(f"{source} has IDX type 0x{type_code:02x} with {ndim} dimensions; expected unsigned "
                        "bytes (0x08) with 1 to 4 dimensions; replace it with the original file")
    header = 4 + 4 * ndim
    if len(content) < header:
        raise DataError(f"{source} is truncated inside its header; delete it so it is fetched again")
    shape = struct.unpack(f">{ndim}I", content[4:header])
    if 0 in shape:
        raise DataError(f"{source} declares an empty dimension {shape}; replace it with the original file")
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(content) != expected:
        state = "truncated" if len(content) < expected else "longer than its header says"
        raise DataError(f"{source} is {state} ({len(content)} bytes, expected {expected}); "
                        "delete it so it is fetched again")
    return np.frombuffer(content, dtype=np.uint8, offset=header).reshape(shape)


def decompress(raw: bytes, source: str | os.PathLike) -> bytes:
    """The content of a file that may be gzip-compressed (recognised by its magic bytes, not its name)."""
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{source} is a corrupt gzip file ({error}); delete it so it is fetched again") from None


def read_idx(path: str | os.PathLike, expected_sha256: str | None = None) -> np.ndarray:
    """Read an IDX file, gzip-compressed or raw, as a uint8 array shaped by its header.

    With ``expected_sha256``, the decompressed content must have that SHA-256.
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror}") from None
    content = decompress(raw, path)
    if expected_sha256 is not None and sha256_hex(content) != expected_sha256:
        raise DataError(f"{path} fails its checksum in SHA256SUMS; replace it with the original file")
    return parse_idx(content, path)


def read_checksums(directory: Path) -> dict[str, str]:
    """The sums of a ``SHA256SUMS`` file in ``directory`` (``<hex>  <name>`` per line), if it has one."""
    listing = directory / "SHA256SUMS"
    if not listing.is_file():
        return {}
    sums = {}
    for line in listing.read_text(errors="replace").splitlines():
        digest, _, name = line.strip().partition(" ")
        if name:
            sums[name.strip().lstrip("*")] = digest.lower()
    return sums


def idx_bytes(array: np.ndarray) -> bytes:
    """An uint8 array as the bytes of an IDX file."""
    return struct.pack(f">HBB{array.ndim}I", 0, IDX_UINT8, array.ndim, *array.shape) + array.tobytes()


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def find_file(directory: Path, name: str) -> Path | None:
    """The file ``name`` or ``name.gz`` in ``directory``, if either exists."""
    for candidate in (directory / f"{name}.gz", directory / name):
        if candidate.is_file():
            return candidate
    return None
