"""Your own images: folders of image files, .npy and .npz arrays, IDX files of any size; the fixed split;
bad data in one line naming the file; training, evaluating and drawing such a dataset end to end."""

import gzip
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from conftest import SMALL_RUN, write_idx
from numpyvae import evaluate, visualize
from numpyvae.data import SPLIT_SEED, held_out, load_dataset
from numpyvae.data import images as image_rules
from numpyvae.errors import DataError
from numpyvae.formats.checkpoint import load_checkpoint
from numpyvae.training import main
from numpyvae.training.state import new_run_folder

FAST = [flag for flag in SMALL_RUN if flag != "--no-download"]


def shape_picture(kind: int, index: int, size=(20, 20)) -> Image.Image:
    """A grey picture of a circle (kind 0) or a square (kind 1) that carries its kind and index in its first
    two pixels, so that a test can tell which file every loaded image came from."""
    height, width = size
    image = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(image)
    box = [2 + index % 4, 2 + index % 3, width - 3 - index % 2, height - 3]
    (draw.ellipse if kind == 0 else draw.rectangle)(box, fill=200 + index % 50)
    image.putpixel((0, 0), 50 + 100 * kind)
    image.putpixel((1, 0), index)
    return image


def make_folder(root, counts=(12, 9), labelled=True, size=(20, 20)):
    """``root`` holding circles/ and squares/ (or all images at its top level), as PNG files."""
    root.mkdir(parents=True, exist_ok=True)
    for kind, count in enumerate(counts):
        folder = root / ("circles", "squares")[kind] if labelled else root
        folder.mkdir(exist_ok=True)
        for index in range(count):
            shape_picture(kind, index, size).save(folder / f"{('c', 's')[kind]}{index:03d}.png")
    return root


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ") and "Traceback" not in err
    return err


def marks(images: np.ndarray) -> set[tuple[int, int]]:
    """The (kind, index) each image carries in its first two pixels."""
    return {((int(row[0]) - 50) // 100, int(row[1])) for row in images}


# -- the fixed split ------------------------------------------------------------------------------------------

def test_the_split_holds_out_one_image_in_ten_by_a_fixed_permutation():
    for count in (2, 9, 10, 21, 200, 1001):
        train, test = held_out(count)
        assert len(test) == max(1, count // 10) and len(train) + len(test) == count
        assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(count))
        assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
        order = np.random.default_rng(SPLIT_SEED).permutation(count)
        assert set(test) == set(order[:len(test)])
    np.random.seed(5)  # nothing global moves it
    assert np.array_equal(held_out(200)[1], held_out(200)[1])


# -- formats ----------------------------------------------------------------------------------------------------

def test_a_folder_sorted_into_sub_folders_is_labelled_by_them(tmp_path):
    folder = make_folder(tmp_path / "pngs", counts=(12, 9))
    (folder / "README.txt").write_text("not an image")  # skipped with a note
    (folder / "squares" / ".DS_Store").write_bytes(b"\0\1")  # hidden: passed over
    data = load_dataset(str(folder))
    assert data.image_shape == (20, 20) and data.classes == ("circles", "squares") and data.num_classes == 2
    assert len(data.test_images) == 2 and len(data.train_images) == 19 and data.train_images.shape[1] == 400
    for images, labels in ((data.train_images, data.train_labels), (data.test_images, data.test_labels)):
        assert np.array_equal((images[:, 0].astype(int) - 50) // 100, labels)  # each label is its image's class
    every = {(0, i) for i in range(12)} | {(1, i) for i in range(9)}
    assert marks(data.train_images) | marks(data.test_images) == every  # each file once
    files = sorted((folder / "circles").glob("*.png")) + sorted((folder / "squares").glob("*.png"))
    train, test = held_out(21)
    expected = np.asarray(Image.open(files[test[0]]))  # the held-out images are the files the split names
    assert np.array_equal(data.test_images[0].reshape(20, 20), expected)


def test_a_folder_of_images_at_its_top_level_has_no_labels(tmp_path):
    data = load_dataset(str(make_folder(tmp_path / "pngs", labelled=False)))
    assert data.train_labels is None and data.test_labels is None and data.classes is None
    assert data.num_classes == 0 and len(data.train_images) + len(data.test_images) == 21


def test_mixed_sizes_are_resized_by_the_stated_rule(tmp_path):
    folder = make_folder(tmp_path / "pngs", counts=(3, 3), labelled=False)
    big = shape_picture(0, 7, size=(30, 24))
    big.save(folder / "big.png")
    data = load_dataset(str(folder), image_size="10x12")
    assert data.image_shape == (10, 12)
    every = np.concatenate([data.train_images, data.test_images])
    resized = np.asarray(big.resize((12, 10), Image.Resampling.BILINEAR))  # Pillow's bilinear, (width, height)
    assert any(np.array_equal(row.reshape(10, 12), resized) for row in every)


def test_colour_and_sixteen_bit_images_become_grey_levels(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.new("RGB", (4, 4), (255, 0, 0)).save(folder / "a_red.png")
    Image.new("RGBA", (4, 4), (0, 0, 255, 10)).save(folder / "b_blue.png")  # alpha dropped, not composited
    Image.fromarray(np.full((4, 4), 257 * 100, dtype=np.uint16)).save(folder / "c_16bit.png")
    Image.new("L", (4, 4), 9).save(folder / "d_grey.jpg", quality=100)
    data = load_dataset(str(folder))
    every = {int(row[0]) for row in np.concatenate([data.train_images, data.test_images])}
    assert every == {76, 29, 100, 9}  # 0.299 * 255, 0.114 * 255, 25700 / 257, 9


def test_npy_images_uint8_keep_their_pixels_and_the_split(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (30, 7, 5), dtype=np.uint8)
    np.save(tmp_path / "x.npy", images)
    data = load_dataset(str(tmp_path / "x.npy"))
    train, test = held_out(30)
    assert data.image_shape == (7, 5) and data.train_labels is None
    assert np.array_equal(data.train_images, images[train].reshape(-1, 35))
    assert np.array_equal(data.test_images, images[test].reshape(-1, 35))


def test_flat_float_npy_needs_and_takes_its_image_size(tmp_path, capsys):
    values = np.random.default_rng(1).random((20, 36))
    values[0, 0], values[0, 1] = 0.0, 1.0
    np.save(tmp_path / "flat.npy", values)
    data = load_dataset(str(tmp_path / "flat.npy"), image_size="4x9")
    train, test = held_out(20)
    assert data.image_shape == (4, 9)
    assert np.array_equal(data.train_images, np.rint(values[train] * 255).astype(np.uint8))
    with pytest.raises(DataError, match=r"flat\.npy holds flat images of 36 pixels.*--image-size 6x6"):
        load_dataset(str(tmp_path / "flat.npy"))
    with pytest.raises(DataError, match=r"flat\.npy.*5x5 has 25"):
        load_dataset(str(tmp_path / "flat.npy"), image_size="5")


def test_npz_with_labels_and_with_a_split_of_its_own(tmp_path):
    rng = np.random.default_rng(2)
    images, labels = rng.integers(0, 256, (40, 6, 6), dtype=np.uint8), rng.integers(0, 3, 40)
    np.savez_compressed(tmp_path / "d.npz", images=images, labels=labels)
    data = load_dataset(str(tmp_path / "d.npz"))
    train, test = held_out(40)
    assert data.classes == ("0", "1", "2")
    assert np.array_equal(data.test_labels, labels[test]) and np.array_equal(data.train_labels, labels[train])
    assert np.array_equal(data.test_images, images[test].reshape(-1, 36))
    np.savez(tmp_path / "s.npz", train_images=images[:30], test_images=images[30:], train_labels=labels[:30],
             test_labels=labels[30:])
    data = load_dataset(str(tmp_path / "s.npz"))
    assert np.array_equal(data.test_images, images[30:].reshape(-1, 36)) and np.array_equal(data.test_labels,
                                                                                               labels[30:])
    assert "own train_images" in data.split


def test_idx_files_of_14x14(tmp_path):
    rng = np.random.default_rng(3)
    folder = tmp_path / "idx14"
    folder.mkdir()
    arrays = {}
    for split, n in (("train", 30), ("t10k", 8)):
        arrays[split] = rng.integers(0, 256, (n, 14, 14), dtype=np.uint8)
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", arrays[split])
        write_idx(folder / f"{split}-labels-idx1-ubyte", rng.integers(0, 4, n), compress=False)
    data = load_dataset(str(folder))  # the folder by its path: its own split
    assert data.image_shape == (14, 14) and np.array_equal(data.test_images, arrays["t10k"].reshape(8, 196))
    assert data.num_classes <= 4 and len(data.train_labels) == 30
    named = tmp_path / "root" / "mnist"  # the same files where --dataset mnist --data-dir looks
    named.parent.mkdir()
    folder.rename(named)
    data = load_dataset("mnist", tmp_path / "root", download=False)
    assert data.image_shape == (14, 14) and data.num_classes == 10
    single = tmp_path / "one-idx3-ubyte.gz"
    write_idx(single, arrays["train"])  # one IDX file of images: no labels, the fixed split
    data = load_dataset(str(single))
    assert data.image_shape == (14, 14) and data.train_labels is None and len(data.test_images) == 3


# -- bad data: one line naming the file -----------------------------------------------------------------------

def bad_npy(path, array):
    np.save(path, array)
    return path


def bad_cases(tmp_path):
    """(what, the dataset path, the file the message must name, a word it must say) for each kind of bad data."""
    mixed = make_folder(tmp_path / "mixed", counts=(2, 0), labelled=False)
    shape_picture(1, 3, size=(24, 20)).save(mixed / "odd.png")
    unreadable = make_folder(tmp_path / "unreadable", counts=(3, 0), labelled=False)
    (unreadable / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    truncated = make_folder(tmp_path / "truncated", counts=(3, 0), labelled=False)
    whole = (truncated / "c000.png").read_bytes()
    (truncated / "cut.png").write_bytes(whole[:len(whole) // 2])
    (tmp_path / "empty").mkdir()
    (tmp_path / "only_text").mkdir()
    (tmp_path / "only_text" / "notes.txt").write_text("hello")
    empty_class = make_folder(tmp_path / "empty_class", counts=(3, 3))
    (empty_class / "triangles").mkdir()
    both = make_folder(tmp_path / "both", counts=(3, 3))
    shape_picture(0, 1).save(both / "stray.png")
    images = np.zeros((6, 4, 4), np.uint8)
    np.savez(tmp_path / "count.npz", images=images, labels=np.arange(5))
    np.savez(tmp_path / "float_labels.npz", images=images, labels=np.zeros(6))
    np.savez(tmp_path / "negative.npz", images=images, labels=-np.ones(6, int))
    np.savez(tmp_path / "members.npz", x_train=images)
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "objects.npz", images=np.array([{"a": 1}, None], dtype=object))
    (tmp_path / "junk.bin").write_bytes(b"hello world")
    return [
        ("mixed sizes", mixed, mixed / "odd.png", "--image-size"),
        ("unreadable", unreadable, unreadable / "broken.png", "Pillow cannot read"),
        ("truncated", truncated, truncated / "cut.png", "Pillow cannot read"),
        ("empty folder", tmp_path / "empty", tmp_path / "empty", "no image files"),
        ("no images in it", tmp_path / "only_text", tmp_path / "only_text", "no image files"),
        ("empty class", empty_class, empty_class / "triangles", "no image files"),
        ("images beside classes", both, both, "both images"),
        ("above 1", bad_npy(tmp_path / "above.npy", np.full((4, 3, 3), 1.5)), tmp_path / "above.npy", "outside [0, 1]"),
        ("below 0", bad_npy(tmp_path / "below.npy", np.full((4, 3, 3), -0.1)), tmp_path / "below.npy", "outside"),
        ("nan", bad_npy(tmp_path / "nan.npy", np.full((4, 3, 3), np.nan)), tmp_path / "nan.npy", "outside [0, 1]"),
        ("int64 pixels", bad_npy(tmp_path / "int.npy", np.zeros((4, 3, 3), np.int64)), tmp_path / "int.npy", "int64"),
        ("a 4-d array", bad_npy(tmp_path / "4d.npy", np.zeros((2, 3, 3, 3), np.uint8)), tmp_path / "4d.npy", "shape"),
        ("label count", tmp_path / "count.npz", tmp_path / "count.npz", "5 labels for 6 images"),
        ("label dtype", tmp_path / "float_labels.npz", tmp_path / "float_labels.npz", "must be integers"),
        ("negative labels", tmp_path / "negative.npz", tmp_path / "negative.npz", "class indices"),
        ("unknown members", tmp_path / "members.npz", tmp_path / "members.npz", "x_train"),
        ("pickled objects", tmp_path / "objects.npy", tmp_path / "objects.npy", "Python objects"),
        ("pickled member", tmp_path / "objects.npz", tmp_path / "objects.npz", "Python objects"),
        ("one image", bad_npy(tmp_path / "one.npy", np.zeros((1, 3, 3), np.uint8)), tmp_path / "one.npy", "at least 2"),
        ("huge images", bad_npy(tmp_path / "huge.npy", np.zeros((1, 1100, 1000), np.uint8)), tmp_path / "huge.npy",
         "too large"),
        ("not data", tmp_path / "junk.bin", tmp_path / "junk.bin", "neither"),
    ]


def test_each_kind_of_bad_data_is_one_line_naming_the_file(tmp_path, capsys):
    for what, dataset, culprit, says in bad_cases(tmp_path):
        code = main(["--dataset", str(dataset), "--out", str(tmp_path / "run"), *FAST, "--steps", "1"])
        err = one_line_error(capsys)
        assert code != 0, what
        assert str(culprit) in err and says in err, (what, err)
        assert not (tmp_path / "run").exists(), what  # nothing left behind


def test_a_set_too_big_for_the_memory_is_refused_before_it_is_made(tmp_path, monkeypatch):
    make_folder(tmp_path / "pngs", counts=(3, 3), labelled=False)
    monkeypatch.setattr(image_rules, "physical_memory", lambda: 9 * 2 ** 20)  # a third: 3 MiB for the images
    monkeypatch.setattr(image_rules, "MAX_IMAGE_PIXELS", 10 ** 6)
    with pytest.raises(DataError, match=r"pngs: 6 images of 1000x1000 need 5\.7 MiB as uint8; this machine has 9\.0 "
                                        "MiB"):
        load_dataset(str(tmp_path / "pngs"), image_size=(1000, 1000))
    assert load_dataset(str(tmp_path / "pngs"), image_size="64").image_shape == (64, 64)  # 24 kB fit


def test_an_npz_member_is_checked_before_it_is_inflated(tmp_path, monkeypatch):
    np.savez_compressed(tmp_path / "big.npz", images=np.zeros((2000, 30, 30)))  # 14 MB inflated, 14 kB on disk
    monkeypatch.setattr(image_rules, "physical_memory", lambda: 30_000_000)
    import numpyvae.data.arrays as arrays
    monkeypatch.setattr(arrays, "physical_memory", lambda: 30_000_000)
    monkeypatch.setattr(np, "load", None)  # the member is refused from its header alone, never loaded
    with pytest.raises(DataError, match=r"big\.npz: member images .* needs 13\.7 MiB; this machine has 28\.6 MiB"):
        arrays.read_npz(tmp_path / "big.npz", None)


def test_conditional_training_on_unlabelled_images_is_refused(tmp_path, capsys):
    folder = make_folder(tmp_path / "pngs", labelled=False)
    assert main(["--dataset", str(folder), "--out", str(tmp_path / "run"), *FAST, "--conditional"]) == 2
    assert "--conditional needs labels" in one_line_error(capsys)


def test_data_dir_beside_a_path_dataset_is_refused_not_ignored(tmp_path, capsys):
    folder = make_folder(tmp_path / "pngs")
    assert main(["--dataset", str(folder), "--data-dir", str(tmp_path), "--out", str(tmp_path / "run"), *FAST]) == 2
    assert "--data-dir" in one_line_error(capsys)


@pytest.mark.parametrize("size", ["0x5", "abc", "2000x2000", "3x"])
def test_a_bad_image_size_is_a_usage_error(size, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--image-size", size, "--out", str(tmp_path / "run"), *FAST])
    assert stop.value.code == 2 and "--image-size" in one_line_error(capsys)


# -- end to end ----------------------------------------------------------------------------------------------

def test_train_evaluate_and_visualize_a_folder_of_pngs(tmp_path, capsys, monkeypatch):
    folder = make_folder(tmp_path / "pngs", counts=(30, 30))
    out = tmp_path / "run"
    monkeypatch.chdir(tmp_path)
    assert main(["--dataset", "pngs", "--out", str(out), *FAST, "--steps", "30", "--log-every", "10",
                 "--latent-dim", "2", "--conditional"]) == 0
    printed = capsys.readouterr().out
    assert f"data: {folder}: 54 training and 6 test images of 20x20, 2 classes (circles, squares)" in printed
    saved = load_checkpoint(out / "checkpoint.npz")
    assert saved.config["run"]["dataset"] == str(folder) and saved.config["run"]["image_size"] == "20x20"
    assert saved.config["model"]["input_dim"] == 400 and saved.config["model"]["num_classes"] == 2
    with Image.open(out / "input.png") as picture:
        assert picture.size == (120, 120)  # 20 x 20 enlarged 6 times, near 112
    with Image.open(out / "samples_30.png") as picture:
        assert picture.size == (3 * (8 * 22 + 2),) * 2  # 8 x 8 cells of 20 + 2 padding, 3 times
    monkeypatch.chdir(out)  # the checkpoint holds the absolute path: it works from anywhere
    assert evaluate.main([str(out / "checkpoint.npz"), "--k", "3", "--no-progress"]) == 0
    results = json.loads((out / "evaluation.json").read_text())
    assert results["dataset"] == str(folder) and results["iwae_images"] == 6
    assert visualize.main([str(out / "checkpoint.npz")]) == 0
    written = capsys.readouterr().out
    for name in ("curves.png", "reconstruction_pairs.png", "prior_samples.png", "latent_scatter.png",
                 "class_samples.png"):
        assert str(out / name) in written
    with Image.open(out / "class_samples.png") as picture:
        assert picture.size == (3 * (10 * 22 + 2), 3 * (2 * 22 + 2))  # one row per class, ten columns
    assert main(["--resume", str(out / "checkpoint.npz"), "--steps", "40", "--no-progress"]) == 0
    assert load_checkpoint(out / "checkpoint.npz").step == 40


def test_a_checkpoint_whose_data_moved_says_so(tmp_path, capsys):
    folder = make_folder(tmp_path / "pngs", labelled=False)
    assert main(["--dataset", str(folder), "--out", str(tmp_path / "run"), *FAST, "--steps", "2"]) == 0
    folder.rename(tmp_path / "moved")
    capsys.readouterr()
    assert evaluate.main([str(tmp_path / "run" / "checkpoint.npz"), "--k", "0"]) == 1
    assert "no longer exists" in one_line_error(capsys)
    assert evaluate.main([str(tmp_path / "run" / "checkpoint.npz"), "--k", "0", "--dataset",
                          str(tmp_path / "moved")]) == 0


def test_training_on_14x14_idx_files_through_data_dir(tmp_path, capsys):
    root = tmp_path / "root" / "mnist"
    root.mkdir(parents=True)
    rng = np.random.default_rng(4)
    for split, n in (("train", 24), ("t10k", 8)):
        write_idx(root / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 14, 14)))
        write_idx(root / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, n))
    out = tmp_path / "run"
    assert main(["--data-dir", str(root.parent), "--out", str(out), *SMALL_RUN, "--steps", "4"]) == 0
    assert load_checkpoint(out / "checkpoint.npz").config["model"]["input_dim"] == 196
    assert evaluate.main([str(out / "checkpoint.npz"), "--data-dir", str(root.parent), "--k", "2",
                          "--no-progress"]) == 0
    assert visualize.main([str(out / "checkpoint.npz"), "--data-dir", str(root.parent)]) == 0
    with Image.open(out / "prior_samples.png") as picture:
        assert picture.size == (4 * (8 * 16 + 2),) * 2


def test_run_folders_of_path_datasets_are_named_after_their_last_part():
    assert new_run_folder("/somewhere/my pngs").name.startswith("my pngs-")
    assert new_run_folder("/data/digits.npz").name.startswith("digits-")
    assert new_run_folder("mnist").name.startswith("mnist-")


def test_a_gzip_idx_with_garbage_is_named(tmp_path, capsys):
    (tmp_path / "bad-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x03" + b"\x00" * 5))
    assert main(["--dataset", str(tmp_path / "bad-idx3-ubyte.gz"), "--out", str(tmp_path / "run"), *FAST]) == 1
    assert "bad-idx3-ubyte.gz" in one_line_error(capsys)


def test_unlabelled_images_with_a_validation_set(tmp_path):
    folder = make_folder(tmp_path / "pngs", counts=(20, 20), labelled=False)
    out = tmp_path / "run"
    assert main(["--dataset", str(folder), "--out", str(out), *FAST, "--steps", "4", "--log-every", "2",
                 "--validation", "5"]) == 0
    rows = (out / "metrics.csv").read_text().splitlines()
    assert rows[0] == "step,train_loss,test_loss,test_reconstruction,test_kl,active_units,wall_seconds,validation_loss"
    assert len(rows) == 3
