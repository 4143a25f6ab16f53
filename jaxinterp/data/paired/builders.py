"""TFDS builders for paired label-map/image datasets, stored as array_record and read without TensorFlow.

Every builder writes two features at one fixed size, chosen by its config (`height`, `width`):
`label` uint8 [h, w] (class indices) and `image` uint8 [h, w, 3] (RGB). They are stored as raw
`tfds.features.Tensor`s, not `tfds.features.Image`: PNG/JPEG decoding inside TFDS needs TensorFlow, raw
tensors do not, and `tfds.data_source` then gives fast random access with no decoding at all.

Decisions where the papers are silent:
- Resizing happens once, at build time, to the size the user asks (config name `"{h}x{w}"`): images with
  area averaging when shrinking (PIL BOX) and bilinear when enlarging, labels with nearest neighbour. The
  aspect ratio is not kept (SPADE also resizes facades and ADE20K to squares). Defaults: Cityscapes 256x512
  (ASAPNet trains at 512x1024, SPADE's cityscapes "aspect_ratio 2"), ADE20K 256x256, Facades 256x256.
- Examples keep the archive's sorted file order (`disable_shuffling`), so index i is stable; `source.batches`
  shuffles.
- Labels are the archive's values unchanged: Cityscapes labelIds 0..33 (label_nc 35 as SPADE); ADE20K
  0 = "other" and 1..150 (label_nc 151; SPADE moves "other" to the last channel, a mere permutation);
  CMP Facades 1..12 (label_nc 13, index 0 unused).
- CMP Facades has no official split: test = base images cmp_b0001..cmp_b0060, train = the rest (the split
  of ASAPNet's facadesHR file lists); the optional extended set only adds training pairs.
- A corrupt or unreadable file, a label/image size mismatch or a label >= label_nc stops the build with an
  `InputError` that names the archive member.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds
from jaxtyping import UInt8
from PIL import Image, UnidentifiedImageError

from jaxinterp.data.paired import procedural
from jaxinterp.errors import InputError

_READ_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, zipfile.BadZipFile)


# ---------------------------------------------------------------------------------------------- decoding
def decode_image(data: bytes, where: str) -> UInt8[np.ndarray, "h w 3"]:
    """Decodes an 8-bit RGB image file (grayscale, palette and CMYK are converted); `where` names it in errors."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except _READ_ERRORS as err:
        raise InputError(f"cannot read image {where}: {err}") from None
    if image.mode not in ("RGB", "L", "P", "CMYK"):  # a few ADE20K photos are grayscale or CMYK JPEGs
        raise InputError(f"{where}: image mode {image.mode}; an 8-bit RGB image is needed")
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def decode_label(data: bytes, where: str, label_nc: int) -> UInt8[np.ndarray, "h w"]:
    """Decodes a single-channel (L, or P = palette indices) label PNG and checks every value < label_nc."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except _READ_ERRORS as err:
        raise InputError(f"cannot read label map {where}: {err}") from None
    if image.mode not in ("L", "P", "I", "I;16", "I;16B", "I;16L"):
        raise InputError(
            f"{where}: label map has mode {image.mode}; a single-channel (L) or palette (P) PNG of class indices "
            "is needed, not a colour rendering"
        )
    labels = np.asarray(image)
    return check_labels(labels, label_nc, where)


def check_labels(labels: np.ndarray, label_nc: int, where: str) -> UInt8[np.ndarray, "*shape"]:
    """Returns `labels` as uint8 after checking that all are in [0, label_nc); raises InputError otherwise."""
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"{where}: label map must hold integer class indices, got dtype {labels.dtype}")
    if labels.size:
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= label_nc:
            bad = high if high >= label_nc else low
            raise InputError(
                f"{where}: label {bad} is out of range for label_nc={label_nc} (classes 0..{label_nc - 1})"
            )
    return labels.astype(np.uint8)


def resize_pair(
    labels: np.ndarray, image: np.ndarray, height: int, width: int, where: str
) -> tuple[UInt8[np.ndarray, "h w"], UInt8[np.ndarray, "h w 3"]]:
    """Checks that label map and image have one size, then resizes both (labels nearest, image area/bilinear)."""
    if labels.shape != image.shape[:2]:
        raise InputError(
            f"{where}: label map is {labels.shape[0]}x{labels.shape[1]} but the image is "
            f"{image.shape[0]}x{image.shape[1]}; they must have the same size"
        )
    if labels.shape == (height, width):
        return labels, image
    labels = np.asarray(Image.fromarray(labels).resize((width, height), Image.Resampling.NEAREST))
    shrink = height <= image.shape[0] and width <= image.shape[1]
    method = Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR
    image = np.asarray(Image.fromarray(image).resize((width, height), method))
    return labels, image


# ---------------------------------------------------------------------------------------------- configs
@dataclasses.dataclass(eq=False)
class PairedConfig(tfds.core.BuilderConfig):
    """Stored size of every example; the config name should be `"{height}x{width}"` (see `size_config`)."""

    height: int = 256
    width: int = 256


@dataclasses.dataclass(eq=False)
class ProceduralConfig(PairedConfig):
    num_train: int = 512
    num_test: int = 64
    seed: int = 0


@dataclasses.dataclass(eq=False)
class FacadesConfig(PairedConfig):
    extended: bool = False  # also read CMP_facade_DB_extended.zip (training pairs only)


# ---------------------------------------------------------------------------------------------- builders
class _PairedBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Shared parts: the two features, `_info`, and finding the user's archives in `manual_dir`."""

    VERSION = tfds.core.Version("1.0.0")
    LABEL_NC: int = 0
    HOMEPAGE = ""
    CITATION = ""
    # TFDS looks for a checksums file beside the builder's source via `code_path`, which in tfds 4.9.10 needs
    # the `importlib_resources` backport for classes inside a package. There are no downloads to check.
    code_path = None

    def _info(self) -> tfds.core.DatasetInfo:
        cfg = self.builder_config
        features = tfds.features.FeaturesDict(
            {
                "image": tfds.features.Tensor(shape=(cfg.height, cfg.width, 3), dtype=np.uint8),
                "label": tfds.features.Tensor(shape=(cfg.height, cfg.width), dtype=np.uint8),
            }
        )
        description = (self.__doc__ or "").strip() + f"\nlabel_nc = {self.LABEL_NC}; size {cfg.height}x{cfg.width}."
        return tfds.core.DatasetInfo(
            builder=self,
            description=description,
            features=features,
            homepage=self.HOMEPAGE or None,
            citation=self.CITATION or None,
            disable_shuffling=True,
        )

    def _archive(self, dl_manager: tfds.download.DownloadManager, filename: str) -> Path:
        try:
            manual_dir = Path(dl_manager.manual_dir)
        except (AssertionError, ValueError):  # TFDS' own errors for a missing, empty or unset manual_dir
            raise InputError(f"manual_dir is not set, missing or empty; {self.MANUAL_DOWNLOAD_INSTRUCTIONS}") from None
        path = manual_dir / filename
        if not path.is_file():
            raise InputError(f"{path} not found; {self.MANUAL_DOWNLOAD_INSTRUCTIONS.strip()}")
        return path

    def _pair(self, label: tuple[bytes, str], image: tuple[bytes, str]) -> dict:
        """Decodes, checks and resizes one pair given as (file bytes, name for errors) each."""
        cfg = self.builder_config
        labels = decode_label(*label, self.LABEL_NC)
        pixels = decode_image(*image)
        labels, pixels = resize_pair(labels, pixels, cfg.height, cfg.width, image[1])
        return {"label": labels, "image": pixels}

    def _zip_pairs(
        self,
        images_zip: Path,
        labels_zip: Path,
        pattern: re.Pattern,
        label_for: Callable[[re.Match], tuple[str, str] | None],
        missing: str,
    ) -> Iterator[tuple[str, dict]]:
        """(key, example) for every member of `images_zip` that `pattern` finds, in name order, paired with its
        label map in `labels_zip` (which may be the same archive).

        `label_for(match)` gives the example's key and the label member's name, or None to skip the image. A
        missing label member raises InputError(`missing`), formatted with the archives' names (`labels_zip`,
        `images_zip`) and the members' (`label`, `image`).
        """
        with contextlib.ExitStack() as stack:
            images = stack.enter_context(_open_zip(images_zip))
            labels = images if labels_zip == images_zip else stack.enter_context(_open_zip(labels_zip))
            label_names = set(labels.namelist())
            for name in sorted(set(images.namelist())):
                if not (match := pattern.search(name)) or not (found := label_for(match)):
                    continue
                key, label_name = found
                if label_name not in label_names:
                    where = {"labels_zip": labels_zip.name, "images_zip": images_zip.name}
                    raise InputError(missing.format(**where, label=label_name, image=name))
                yield key, self._pair(_member(labels, labels_zip, label_name), _member(images, images_zip, name))


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise InputError(f"cannot open archive {path}: {err}") from None


def _member(archive: zipfile.ZipFile, path: Path, name: str) -> tuple[bytes, str]:
    """Bytes of one archive member and the name errors use for it (`archive.zip:member`)."""
    where = f"{path.name}:{name}"
    try:
        return archive.read(name), where
    except (zipfile.BadZipFile, OSError, KeyError, EOFError) as err:
        raise InputError(f"cannot read {where}: {err}") from None


class PairedProcedural(_PairedBuilder, skip_registration=True):
    """Procedural street scenes (jaxinterp.data.paired.procedural): no download, deterministic from a seed."""

    BUILDER_CONFIGS = [ProceduralConfig(name="256x256_train512_test64_seed0")]
    LABEL_NC = procedural.NUM_CLASSES

    def _split_generators(self, dl_manager):
        cfg = self.builder_config
        return {
            "train": self._generate_examples(0, cfg.num_train),
            "test": self._generate_examples(cfg.num_train, cfg.num_test),
        }

    def _generate_examples(self, offset: int, count: int) -> Iterator[tuple[int, dict]]:
        cfg = self.builder_config
        chunk = 16
        for start in range(0, count, chunk):
            n = min(chunk, count - start)
            labels, images = procedural.generate(n, cfg.height, cfg.width, cfg.seed, offset=offset + start)
            for i in range(n):
                yield start + i, {"label": labels[i], "image": images[i]}


class PairedCityscapes(_PairedBuilder, skip_registration=True):
    """Cityscapes fine annotations (label ids 0..33 from *_gtFine_labelIds.png) with the left 8-bit images."""

    BUILDER_CONFIGS = [PairedConfig(name="256x512", height=256, width=512)]
    LABEL_NC = 35
    HOMEPAGE = "https://www.cityscapes-dataset.com"
    CITATION = "Cordts et al., The Cityscapes Dataset for Semantic Urban Scene Understanding, CVPR 2016."
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "register at https://www.cityscapes-dataset.com/downloads/, download leftImg8bit_trainvaltest.zip (11 GB) "
        "and gtFine_trainvaltest.zip (241 MB), and put both (unextracted) in manual_dir."
    )
    IMAGES_ZIP, LABELS_ZIP = "leftImg8bit_trainvaltest.zip", "gtFine_trainvaltest.zip"

    def _split_generators(self, dl_manager):
        images, labels = self._archive(dl_manager, self.IMAGES_ZIP), self._archive(dl_manager, self.LABELS_ZIP)
        # The test split's public labels are all "unlabeled", so only train and val are useful.
        return {split: self._generate_examples(images, labels, split) for split in ("train", "val")}

    def _generate_examples(self, images_zip: Path, labels_zip: Path, split: str):
        pattern = re.compile(rf"^leftImg8bit/{split}/([^/]+)/([^/]+)_leftImg8bit\.png$")  # groups: city, stem
        yield from self._zip_pairs(
            images_zip,
            labels_zip,
            pattern,
            lambda match: (match[2], f"gtFine/{split}/{match[1]}/{match[2]}_gtFine_labelIds.png"),
            missing="{labels_zip}: no {label} for {images_zip}:{image}",
        )


class PairedAde20k(_PairedBuilder, skip_registration=True):
    """ADE20K / MIT Scene Parsing (SceneParsing150): 150 classes plus 0 = "other"."""

    BUILDER_CONFIGS = [PairedConfig(name="256x256", height=256, width=256)]
    LABEL_NC = 151
    HOMEPAGE = "http://sceneparsing.csail.mit.edu/"
    CITATION = "Zhou et al., Scene Parsing through ADE20K Dataset, CVPR 2017."
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "download ADEChallengeData2016.zip (923 MB) from http://sceneparsing.csail.mit.edu/ "
        "(http://data.csail.mit.edu/places/ADEchallenge/ADEChallengeData2016.zip) and put it in manual_dir."
    )
    ZIP = "ADEChallengeData2016.zip"

    def _split_generators(self, dl_manager):
        archive = self._archive(dl_manager, self.ZIP)
        return {
            "train": self._generate_examples(archive, "training"),
            "val": self._generate_examples(archive, "validation"),
        }

    def _generate_examples(self, path: Path, phase: str):
        pattern = re.compile(rf"^(.*?)images/{phase}/([^/]+)\.jpg$")  # any top folder (ADEChallengeData2016/)
        yield from self._zip_pairs(
            path,
            path,
            pattern,
            lambda match: (match[2], f"{match[1]}annotations/{phase}/{match[2]}.png"),
            missing="{labels_zip}: no annotation {label} for {image}",
        )


class PairedFacades(_PairedBuilder, skip_registration=True):
    """CMP Facade Database: rectified facades with 12 classes (label values 1..12)."""

    BUILDER_CONFIGS = [FacadesConfig(name="256x256", height=256, width=256)]
    LABEL_NC = 13
    HOMEPAGE = "https://cmp.felk.cvut.cz/~tylecr1/facade/"
    CITATION = "Tylecek and Sara, Spatial Pattern Templates for Recognition of Objects with Regular Structure, 2013."
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "download CMP_facade_DB_base.zip (and, with extended=True, CMP_facade_DB_extended.zip) from "
        "https://cmp.felk.cvut.cz/~tylecr1/facade/ and put it in manual_dir."
    )
    BASE_ZIP, EXTENDED_ZIP = "CMP_facade_DB_base.zip", "CMP_facade_DB_extended.zip"
    NUM_TEST = 60  # cmp_b0001..cmp_b0060 are the test split

    def _split_generators(self, dl_manager):
        archives = [self._archive(dl_manager, self.BASE_ZIP)]
        if getattr(self.builder_config, "extended", False):
            archives.append(self._archive(dl_manager, self.EXTENDED_ZIP))
        return {split: self._generate_examples(archives, split) for split in ("train", "test")}

    def _generate_examples(self, archives: list[Path], split: str):
        pattern = re.compile(r"(?:^|/)cmp_([bx])(\d+)\.jpg$")

        def label_for(match: re.Match) -> tuple[str, str] | None:
            is_test = match[1] == "b" and int(match[2]) <= self.NUM_TEST
            if is_test != (split == "test"):
                return None
            return f"cmp_{match[1]}{match[2]}", match.string[:-4] + ".png"  # the image's name, .jpg -> .png

        for path in archives:
            yield from self._zip_pairs(
                path, path, pattern, label_for, missing="{labels_zip}: no label map {label} for {image}"
            )


BUILDERS: dict[str, type[_PairedBuilder]] = {
    "procedural": PairedProcedural,
    "cityscapes": PairedCityscapes,
    "ade20k": PairedAde20k,
    "facades": PairedFacades,
}
