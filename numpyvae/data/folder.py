"""A folder of image files as a dataset: anything Pillow reads, in grey levels, labelled by sub-folder or not.

    pngs/a.png, pngs/b.jpg, ...                    all images at the top level: no labels
    pngs/circles/1.png, pngs/squares/7.png, ...    one sub-folder per class: labels 0..C-1, the sub-folders'
                                                   names sorted (Python's string order); a class's images
                                                   may sit in deeper folders of its own

A file counts as an image by its extension, among those Pillow opens (.png, .jpg, .jpeg, .bmp, .gif,
.tif, .webp, ...); other files are skipped with a note, and names starting with "." are passed over.
Images are read in sorted path order. Each becomes grey levels, Pillow's mode "L" (L = 0.299 R + 0.587 G
+ 0.114 B; an alpha channel is dropped, not composited; the first frame of an animation; EXIF orientation
not applied); 16-bit grey images are scaled to 8 bits (round(v / 257)), 32-bit integer ones ("I") likewise
unless all their values fit 0..255, float ones ("F") must lie in [0, 1].
All images must have one size, unless ``--image-size`` gives the size to resize them to
(numpyvae.data.images).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import DataError
from .images import check_shape, resize, shown_size, to_pixels

COMMON = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")  # named in messages


def image_extensions() -> frozenset[str]:
    """The file extensions (lower case, with the dot) of the formats Pillow can open."""
    return frozenset(extension for extension, kind in Image.registered_extensions().items() if kind in Image.OPEN)


def _visible(path: Path, root: Path) -> bool:
    return not any(part.startswith(".") for part in path.relative_to(root).parts)


def list_images(folder: Path) -> tuple[list[Path], list[int] | None, list[str] | None]:
    """The image files of ``folder`` in reading order, with their class indices and the class names when it
    is sorted into sub-folders (else None, None); DataError naming the folder for an empty or mixed one."""
    extensions, skipped = image_extensions(), []

    def images_in(paths) -> list[Path]:
        files = sorted(path for path in paths if path.is_file() and _visible(path, folder))
        skipped.extend(path for path in files if path.suffix.lower() not in extensions)
        return [path for path in files if path.suffix.lower() in extensions]

    try:
        entries = sorted(entry for entry in folder.iterdir() if not entry.name.startswith("."))
        top = images_in(entries)
        classes = [entry for entry in entries if entry.is_dir()]
        per_class = [images_in(entry.rglob("*")) for entry in classes]
    except OSError as error:
        raise DataError(f"cannot read the folder {folder}: {error.strerror or error}") from None
    shown = ", ".join(str(path.relative_to(folder)) for path in skipped[:3]) + (", ..." if len(skipped) > 3 else "")
    if not top and not any(per_class):
        common = [extension for extension in COMMON if extension in extensions]
        raise DataError(f"{folder} holds no image files" + (f" (only {shown})" if skipped else "") + "; an image file "
                        f"is named by its format ({', '.join(common)}, ... anything Pillow opens)")
    if skipped:
        print(f"note: {folder}: skipped {len(skipped)} file{'s' * (len(skipped) > 1)} that Pillow does not open by "
              f"their names ({shown})", file=sys.stderr)
    if classes and top:
        raise DataError(f"{folder} holds both images ({top[0].name}, ...) and sub-folders ({classes[0].name}, ...); "
                        "put every image into a sub-folder of its class, or all of them at the top for no labels")
    if classes:
        for entry, files in zip(classes, per_class, strict=True):
            if not files:
                raise DataError(f"the class folder {entry} holds no image files; add images or remove it")
        files = [path for files in per_class for path in files]
        labels = [index for index, files_of_class in enumerate(per_class) for _ in files_of_class]
        return files, labels, [entry.name for entry in classes]
    return top, None, None


def open_image(path: Path) -> Image.Image:
    """The image in ``path``, opened (its header read); DataError naming the file if Pillow cannot."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # a huge image is refused, not read
            return Image.open(path)
    except Exception as error:  # Pillow's plugins fail in many ways on a bad file; each means "cannot read it"
        raise DataError(f"Pillow cannot read {path} ({type(error).__name__}: {error}); remove it or replace it "
                        "with a readable image") from None


def grey_levels(image: Image.Image, path: Path) -> np.ndarray:
    """A Pillow image as uint8 grey levels (h, w) by the rules of the module; DataError naming the file."""
    try:
        image.load()
        if image.mode.startswith("I;16"):
            return np.rint(np.asarray(image).astype(np.float64) / 257).astype(np.uint8)
        if image.mode in ("I", "F"):
            values = np.asarray(image)
            if image.mode == "I":
                if values.min() < 0 or values.max() > 65535:
                    raise DataError(f"{path} holds 32-bit values {values.min()}..{values.max()}, outside 0..65535; "
                                    "save it as 8- or 16-bit grey levels")
                return values.astype(np.uint8) if values.max() <= 255 else np.rint(values / 257).astype(np.uint8)
            return to_pixels(values[None], path)[0]
        return np.asarray(image.convert("L"))
    except DataError:
        raise
    except Exception as error:  # truncated or corrupt pixel data
        raise DataError(f"Pillow cannot read {path} ({type(error).__name__}: {error}); remove it or replace it "
                        "with a readable image") from None
    finally:
        image.close()


def read_folder(folder: Path, size: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """The images of ``folder`` as uint8 (N, H, W), their labels (N,) int64 and class names (or None, None).

    Without ``size``, every image must have the first one's size; with it, each is resized to it. The
    size of the whole set is checked (numpyvae.data.images.check_shape) before its array is made.
    """
    files, labels, classes = list_images(folder)
    first = open_image(files[0])
    shape = size or (first.height, first.width)
    first.close()
    check_shape(len(files), shape, folder)
    images = np.empty((len(files), *shape), dtype=np.uint8)
    for index, path in enumerate(files):
        image = open_image(path)
        if size is None and (image.height, image.width) != shape:
            image.close()
            raise DataError(f"{path} is {image.height}x{image.width} but {files[0]} is {shown_size(shape)} (height x "
                            "width); give --image-size HxW to resize every image to one size (bilinear)")
        images[index] = resize(grey_levels(image, path), shape)
    return images, None if labels is None else np.array(labels, dtype=np.int64), classes
