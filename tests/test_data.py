"""IDX reading, dataset loading, checksums of the real files, and mini-batches."""

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import write_idx
from numpyvae.data import FILES, SHA256, MiniBatcher, idx_bytes, load_dataset, read_idx, resolve_data_dir
from numpyvae.errors import DataError, UsageError


def test_idx_round_trip_gzip_and_raw(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for compress in (True, False):
        path = tmp_path / f"a{compress}.idx"
        write_idx(path, array, compress)
        np.testing.assert_array_equal(read_idx(path), array)


@pytest.mark.parametrize("content, problem", [
    (b"", "magic"), (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "magic"),
    (b"\x00\x00\x0d\x01\x00\x00\x00\x01\x05", "type"), (b"\x00\x00\x08\x00", "dimensions"),
    (b"\x00\x00\x08\x05" + b"\x00\x00\x00\x01" * 5 + b"\x05", "dimensions"),
    (b"\x00\x00\x08\x02\x00\x00\x00\x02", "truncated"), (b"\x00\x00\x08\x01\x00\x00\x00\x00", "empty"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x03\x01\x02", "truncated"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x01\x01\x02", "longer")])
def test_bad_idx_files_raise_data_error_naming_the_file(tmp_path, content, problem):
    path = tmp_path / "broken-idx"
    path.write_bytes(content)
    with pytest.raises(DataError, match=problem) as error:
        read_idx(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_corrupt_gzip_raises_data_error(tmp_path):
    packed = bytearray(gzip.compress(idx_bytes(np.zeros((50, 28, 28), np.uint8))))
    packed[len(packed) // 2] ^= 0xFF
    packed[-5] ^= 0xFF
    path = tmp_path / "corrupt.gz"
    path.write_bytes(bytes(packed))
    with pytest.raises(DataError, match="gzip|truncated|longer"):
        read_idx(path)


def test_missing_file_raises_data_error(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        read_idx(tmp_path / "nope")


VALID = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))


def assert_array_or_data_error(path, content):
    """read_idx either raises DataError or returns exactly what the bytes say (re-encoding gives them back)."""
    path.write_bytes(content)
    try:
        array = read_idx(path)
    except DataError:
        return
    assert array.dtype == np.uint8 and 1 <= array.ndim <= 4
    assert idx_bytes(array) == (gzip.decompress(content) if content[:2] == b"\x1f\x8b" else content)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=64))
def test_random_bytes_give_an_array_or_data_error(tmp_path, content):
    assert_array_or_data_error(tmp_path / "random", content)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(base=st.sampled_from([VALID, gzip.compress(VALID)]),
       flips=st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(1, 255)), max_size=4),
       cut=st.integers(0, 30))
def test_mutated_files_give_an_array_or_data_error(tmp_path, base, flips, cut):
    content = bytearray(base)
    for position, bits in flips:
        content[position % len(content)] ^= bits
    assert_array_or_data_error(tmp_path / "mutated", bytes(content[:len(content) - cut]))


def sha256_sums(folder: Path) -> dict[str, str]:
    return dict(reversed(line.split()) for line in (folder / "SHA256SUMS").read_text().splitlines() if line)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_real_datasets_load_and_match_their_published_checksums(request, name):
    dataset = request.getfixturevalue(name.replace("-", "_"))  # fetched the way a user gets it
    assert dataset.train_images.shape == (60000, 784) and dataset.test_images.shape == (10000, 784)
    assert dataset.train_images.dtype == np.uint8 and dataset.train_labels.dtype == np.uint8
    assert set(np.unique(dataset.train_labels)) == set(range(10))
    folder = resolve_data_dir(name)
    # the arrays, written back as IDX bytes, hash to the published sums (and to a SHA256SUMS beside them, if any)
    sums = [SHA256[name]] + ([sha256_sums(folder)] if (folder / "SHA256SUMS").is_file() else [])
    for published in sums:
        for file, digest in published.items():
            key = next(k for k, v in FILES.items() if v == file)
            array = getattr(dataset, key)
            shape = (len(array), 28, 28) if key.endswith("images") else array.shape
            assert hashlib.sha256(idx_bytes(array.reshape(shape))).hexdigest() == digest


def test_data_dir_from_argument_environment_or_default(monkeypatch, tmp_path):
    monkeypatch.setenv("NUMPYVAE_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir("mnist", tmp_path / "arg") == tmp_path / "arg" / "mnist"
    assert resolve_data_dir("mnist") == tmp_path / "env" / "mnist"
    monkeypatch.delenv("NUMPYVAE_DATA_DIR")
    assert resolve_data_dir("fashion-mnist") == Path("data") / "fashion-mnist"


def test_tiny_dataset_loads(tiny_dataset):
    folder, _ = tiny_dataset
    dataset = load_dataset("mnist", folder.parent, download=False)
    assert dataset.train_images.shape == (20, 784) and dataset.test_labels.shape == (10,)


def test_label_and_image_counts_must_match(tiny_dataset):
    folder, _ = tiny_dataset
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(9))
    with pytest.raises(DataError, match="do not match"):
        load_dataset("mnist", folder.parent, download=False)


def test_missing_files_without_download_say_where_they_looked(tmp_path):
    with pytest.raises(DataError, match="not found in") as error:
        load_dataset("mnist", tmp_path, download=False)
    assert str((tmp_path / "mnist").resolve()) in str(error.value)


def test_unknown_dataset_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="fashion-mnist"):
        load_dataset("cifar", tmp_path)


# -- mini-batches -----------------------------------------------------------------------------------

def images(n=100):
    return np.random.default_rng(0).integers(0, 256, (n, 784), dtype=np.uint8)


def test_batches_are_scaled_float32():
    store = images()
    batch = MiniBatcher(store, 16, np.random.default_rng(0)).next_batch()
    assert batch.shape == (16, 784) and batch.dtype == np.float32
    assert 0 <= batch.min() and batch.max() <= 1
    assert any(np.allclose(batch[0], row / 255) for row in store)


def test_each_epoch_visits_every_image_once_and_reshuffles():
    store = np.repeat(np.arange(100, dtype=np.uint8)[:, None], 784, axis=1)  # row i is all i
    batcher = MiniBatcher(store, 10, np.random.default_rng(0), dtype=np.float64)
    epochs = [[int(round(v * 255)) for _ in range(10) for v in batcher.next_batch()[:, 0]] for _ in range(2)]
    assert sorted(epochs[0]) == list(range(100)) and sorted(epochs[1]) == list(range(100))
    assert epochs[0] != epochs[1] and batcher.epoch == 1


def test_remainder_is_dropped():
    batcher = MiniBatcher(images(105), 10, np.random.default_rng(0))
    assert batcher.steps_per_epoch == 10


def test_same_seed_same_order():
    a = MiniBatcher(images(), 8, np.random.default_rng(4))
    b = MiniBatcher(images(), 8, np.random.default_rng(4))
    for _ in range(30):
        np.testing.assert_array_equal(a.next_batch(), b.next_batch())


def test_state_round_trip_reproduces_the_following_batches():
    rng = np.random.default_rng(1)
    batcher = MiniBatcher(images(), 8, rng)
    for _ in range(17):
        batcher.next_batch()
    state, rng_state = batcher.state_dict(), rng.bit_generator.state
    expected = [batcher.next_batch().copy() for _ in range(20)]
    rng2 = np.random.default_rng(99)
    resumed = MiniBatcher(images(), 8, rng2)
    resumed.load_state_dict(state)
    rng2.bit_generator.state = rng_state
    for batch in expected:
        np.testing.assert_array_equal(resumed.next_batch(), batch)


@pytest.mark.parametrize("size", [0, -1, 101])
def test_invalid_batch_sizes(size):
    with pytest.raises(UsageError):
        MiniBatcher(images(), size, np.random.default_rng(0))
