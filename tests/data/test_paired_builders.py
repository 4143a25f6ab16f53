"""Paired TFDS builders on tiny fake archives with the real layouts, and the batching/loading in source.py."""

import io
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

from jaxinterp.data.images import uint8_to_unit
from jaxinterp.data.paired import procedural, source
from jaxinterp.data.paired.builders import resize_pair
from jaxinterp.errors import InputError

RNG = np.random.default_rng(0)


def png(array: np.ndarray, palette: bool = False) -> bytes:
    image = Image.fromarray(array)
    if palette:  # an indexed PNG, like the CMP facade label maps
        image = image.convert("P")
        image.putpalette([v for i in range(256) for v in (i * 3 % 256, i * 5 % 256, i * 7 % 256)])
        image.frombytes(array.tobytes())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def jpg(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def blocky(h: int, w: int, high: int, channels: int = 0) -> np.ndarray:
    """Random values constant on 2x2 blocks, so a 2x downscale (nearest or area) is exact."""
    shape = (h // 2, w // 2) + ((channels,) if channels else ())
    small = RNG.integers(0, high, size=shape, dtype=np.uint8)
    return small.repeat(2, 0).repeat(2, 1)


def write_zip(path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


# --------------------------------------------------------------------------------------------- procedural
def test_procedural_builder_reads_back_generated_arrays(tmp_path):
    config = dict(height=32, width=64, num_train=5, num_test=3, seed=11)
    source.prepare("procedural", tmp_path, **config)
    train = source.load_source("procedural", tmp_path, "train", **config)
    test = source.load_source("procedural", tmp_path, "test", **config)
    labels, images = procedural.generate(8, 32, 64, seed=11)
    assert (len(train), len(test)) == (5, 3)
    for k in range(8):
        record = train[k] if k < 5 else test[k - 5]
        np.testing.assert_array_equal(record["label"], labels[k])
        np.testing.assert_array_equal(record["image"], images[k])
    assert "tensorflow" not in sys.modules
    assert (tmp_path / "paired_procedural" / "32x64_train5_test3_seed11").is_dir()


def test_load_source_rejects_unknown_split_option_and_dataset(tmp_path):
    config = dict(height=16, width=16, num_train=2, num_test=1)
    with pytest.raises(InputError, match="no split 'val'"):
        source.load_source("procedural", tmp_path, "val", **config)
    with pytest.raises(InputError, match="unknown option"):
        source.load_source("procedural", tmp_path, "train", colour=True)
    with pytest.raises(InputError, match="height must be an integer >= 8, got 4"):
        source.prepare("procedural", tmp_path, height=4, width=16)
    with pytest.raises(InputError, match="unknown paired dataset"):
        source.label_nc("mnist")
    with pytest.raises(InputError, match="not prepared"):
        source.load_source("facades", tmp_path, "train", height=16, width=16)


def test_label_nc_per_dataset():
    assert {n: source.label_nc(n) for n in ("procedural", "cityscapes", "ade20k", "facades")} == {
        "procedural": procedural.NUM_CLASSES,
        "cityscapes": 35,
        "ade20k": 151,
        "facades": 13,
    }


def test_resize_pair_nearest_labels_area_images_and_size_check():
    checker = (np.indices((8, 8)).sum(0) % 2).astype(np.uint8)  # 1-pixel checkerboard
    labels, image = resize_pair(checker * 30, np.repeat(checker[..., None] * 200, 3, -1), 4, 4, "x")
    assert set(np.unique(labels).tolist()) <= {0, 30}  # nearest: no blended class ids
    np.testing.assert_array_equal(image, 100)  # area average of 2x2 blocks
    with pytest.raises(InputError, match="x: label map is 8x8 but the image is 8x7"):
        resize_pair(checker, np.zeros((8, 7, 3), np.uint8), 4, 4, "x")


# --------------------------------------------------------------------------------------------- cityscapes
def cityscapes_archives(root, label_overrides=None):
    pairs = {}
    images, labels = {}, {}
    for split, city, n in (("train", "aachen", 2), ("train", "bremen", 1), ("val", "lindau", 1)):
        for k in range(n):
            stem = f"{city}_{k:06d}_000019"
            label, image = blocky(16, 32, 34), blocky(16, 32, 256, 3)
            label = (label_overrides or {}).get(stem, label)
            images[f"leftImg8bit/{split}/{city}/{stem}_leftImg8bit.png"] = png(image)
            labels[f"gtFine/{split}/{city}/{stem}_gtFine_labelIds.png"] = png(label)
            labels[f"gtFine/{split}/{city}/{stem}_gtFine_color.png"] = png(blocky(16, 32, 256, 3))  # ignored
            pairs[stem] = (split, label, image)
    images["README"] = labels["license.txt"] = b"text"
    write_zip(root / "leftImg8bit_trainvaltest.zip", images)
    write_zip(root / "gtFine_trainvaltest.zip", labels)
    return pairs


def test_cityscapes_builder_pairs_and_resizes(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    pairs = cityscapes_archives(manual)
    source.prepare("cityscapes", tmp_path / "data", manual, height=8, width=16)
    for split in ("train", "val"):
        src = source.load_source("cityscapes", tmp_path / "data", split, height=8, width=16)
        expected = sorted((stem, v) for stem, v in pairs.items() if v[0] == split)
        assert len(src) == len(expected)
        for k, (_stem, (_, label, image)) in enumerate(expected):
            assert src[k]["label"].shape == (8, 16) and src[k]["image"].shape == (8, 16, 3)
            np.testing.assert_array_equal(src[k]["label"], label[::2, ::2])  # labelIds kept, nearest resize
            np.testing.assert_array_equal(src[k]["image"], image[::2, ::2])  # area average of 2x2 blocks


def test_cityscapes_size_mismatch_and_missing_archive(tmp_path):
    manual = tmp_path / "manual"
    with pytest.raises(InputError, match="manual_dir is not set, missing or empty; register at"):
        source.prepare("cityscapes", tmp_path / "data", manual, height=8, width=16)
    manual.mkdir()
    (manual / "gtFine_trainvaltest.zip").write_bytes(b"")
    with pytest.raises(InputError, match="leftImg8bit_trainvaltest.zip not found"):
        source.prepare("cityscapes", tmp_path / "data", manual, height=8, width=16)
    cityscapes_archives(manual, {"bremen_000000_000019": blocky(16, 30, 34)})
    with pytest.raises(InputError, match=r"bremen_000000_000019_leftImg8bit.png: label map is 16x30 but the image"):
        source.prepare("cityscapes", tmp_path / "data", manual, height=8, width=16)


# --------------------------------------------------------------------------------------------- ade20k
def ade20k_archive(path, bad_label=None, extra=None):
    members, pairs = {}, {}
    for phase, prefix, n in (("training", "ADE_train", 3), ("validation", "ADE_val", 1)):
        for k in range(1, n + 1):
            stem = f"{prefix}_{k:08d}"
            label = blocky(16, 16, 151)
            label[0, 0] = 150 if k == 1 else label[0, 0]
            if bad_label == stem:
                label[3, 3] = 151
            image = np.full((16, 16, 3), (40 * k, 200 - 30 * k, 90), np.uint8)  # flat: JPEG keeps it
            members[f"ADEChallengeData2016/images/{phase}/{stem}.jpg"] = jpg(image)
            members[f"ADEChallengeData2016/annotations/{phase}/{stem}.png"] = png(label)
            pairs[stem] = (phase, label, image)
    members["ADEChallengeData2016/objectInfo150.txt"] = b"Idx\tRatio\tTrain\tVal\tName"
    members.update(extra or {})
    write_zip(path, members)
    return pairs


def test_ade20k_builder_keeps_151_label_values(tmp_path):
    pairs = ade20k_archive(tmp_path / "ADEChallengeData2016.zip")
    source.prepare("ade20k", tmp_path / "data", tmp_path, height=16, width=16)
    for split, phase in (("train", "training"), ("val", "validation")):
        src = source.load_source("ade20k", tmp_path / "data", split, height=16, width=16)
        expected = sorted((stem, v) for stem, v in pairs.items() if v[0] == phase)
        assert len(src) == len(expected)
        for k, (_stem, (_, label, image)) in enumerate(expected):
            np.testing.assert_array_equal(src[k]["label"], label)  # native size: untouched, 0..150
            assert np.abs(src[k]["image"].astype(int) - image).max() <= 3  # JPEG round trip of a flat colour
    assert source.load_source("ade20k", tmp_path / "data", "train", height=16, width=16)[0]["label"][0, 0] == 150


def test_ade20k_out_of_range_label_names_the_file(tmp_path):
    ade20k_archive(tmp_path / "ADEChallengeData2016.zip", bad_label="ADE_train_00000002")
    with pytest.raises(InputError, match=r"annotations/training/ADE_train_00000002.png: label 151 is out of range"):
        source.prepare("ade20k", tmp_path / "data", tmp_path, height=16, width=16)


# --------------------------------------------------------------------------------------------- facades
def facades_archive(path, folder, names, corrupt=None):
    members, pairs = {}, {}
    for name in names:
        label = RNG.integers(1, 13, size=(12, 10), dtype=np.uint8)
        image = np.full((12, 10, 3), RNG.integers(0, 256, 3), np.uint8)
        members[f"{folder}/{name}.jpg"] = b"\xff\xd8 not a jpeg" if name == corrupt else jpg(image)
        members[f"{folder}/{name}.png"] = png(label, palette=True)
        members[f"{folder}/{name}.xml"] = b"<annotation/>"
        pairs[name] = (label, image)
    write_zip(path, members)
    return pairs


def test_facades_builder_split_rule_palette_labels_and_extended(tmp_path):
    base = facades_archive(tmp_path / "CMP_facade_DB_base.zip", "base", ["cmp_b0001", "cmp_b0060", "cmp_b0061"])
    extended = facades_archive(tmp_path / "CMP_facade_DB_extended.zip", "extended", ["cmp_x0001"])
    source.prepare("facades", tmp_path / "data", tmp_path, height=12, width=10)
    test = source.load_source("facades", tmp_path / "data", "test", height=12, width=10)
    train = source.load_source("facades", tmp_path / "data", "train", height=12, width=10)
    assert (len(test), len(train)) == (2, 1)  # b0001..b0060 are test
    for record, name in ((test[0], "cmp_b0001"), (test[1], "cmp_b0060"), (train[0], "cmp_b0061")):
        np.testing.assert_array_equal(record["label"], base[name][0])  # palette indices 1..12, not colours
        assert np.abs(record["image"].astype(int) - base[name][1]).max() <= 3
    source.prepare("facades", tmp_path / "data", tmp_path, height=12, width=10, extended=True)
    train = source.load_source("facades", tmp_path / "data", "train", height=12, width=10, extended=True)
    assert len(train) == 2
    np.testing.assert_array_equal(train[1]["label"], extended["cmp_x0001"][0])


def test_facades_corrupt_image_names_the_member(tmp_path):
    facades_archive(tmp_path / "CMP_facade_DB_base.zip", "base", ["cmp_b0061", "cmp_b0062"], corrupt="cmp_b0062")
    with pytest.raises(InputError, match=r"cannot read image CMP_facade_DB_base.zip:base/cmp_b0062.jpg"):
        source.prepare("facades", tmp_path / "data", tmp_path, height=12, width=10)


# --------------------------------------------------------------------------------------------- batching
def index_source(n=6, h=4, w=5):
    """Records whose label map is filled with the example index, so batches show which examples they hold."""
    return [
        {"label": np.full((h, w), i, np.uint8), "image": RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)}
        for i in range(n)
    ]


def test_batches_one_hot_range_epochs_and_determinism():
    src = index_source()
    stream = source.batches(src, batch_size=3, seed=5, label_nc=8)
    first = [next(stream) for _ in range(4)]
    for batch in first:
        assert batch["labels"].shape == (3, 4, 5, 8) and batch["labels"].dtype == np.float32
        np.testing.assert_array_equal(batch["labels"].sum(-1), 1.0)
        indices = batch["labels"].argmax(-1)[:, 0, 0]
        np.testing.assert_array_equal(batch["labels"].argmax(-1), indices[:, None, None] + np.zeros((4, 5), int))
        expected = np.stack([uint8_to_unit(src[i]["image"]) for i in indices])
        np.testing.assert_array_equal(batch["image"], expected)
        assert batch["image"].min() >= -1.0 and batch["image"].max() <= 1.0
    seen = [b["labels"].argmax(-1)[:, 0, 0] for b in first]
    assert sorted(np.concatenate(seen[:2]).tolist()) == list(range(6))  # each epoch: every example once
    assert sorted(np.concatenate(seen[2:]).tolist()) == list(range(6))
    assert not np.array_equal(np.concatenate(seen[:2]), np.concatenate(seen[2:]))  # reshuffled per epoch
    again = source.batches(src, batch_size=3, seed=5, label_nc=8)
    for batch in first:
        np.testing.assert_array_equal(next(again)["labels"], batch["labels"])
    other = source.batches(src, batch_size=3, seed=6, label_nc=8)
    assert any(not np.array_equal(next(other)["labels"], b["labels"]) for b in first)


def test_to_batch_converts_and_rejects_bad_input():
    labels = np.array([[[0, 2], [1, 2]]], np.uint8)
    images = np.array([[[[0, 0, 0], [255, 255, 255]], [[51, 102, 153], [0, 0, 255]]]], np.uint8)
    batch = source.to_batch(labels, images, label_nc=3)
    np.testing.assert_array_equal(batch["labels"][0, 0, 1], [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(batch["labels"][0, 1, 0], [0.0, 1.0, 0.0])
    np.testing.assert_allclose(batch["image"][0, 0], [[-1, -1, -1], [1, 1, 1]])
    np.testing.assert_allclose(batch["image"][0, 1, 0], [-0.6, -0.2, 0.2], atol=1e-6)
    assert set(source.to_batch(labels, None, label_nc=3)) == {"labels"}
    with pytest.raises(InputError, match="label 2 is out of range for label_nc=2"):
        source.to_batch(labels, images, label_nc=2)
    with pytest.raises(InputError, match="do not match label maps"):
        source.to_batch(labels, images[:, :, :1], label_nc=3)
    with pytest.raises(InputError, match=r"\[batch, height, width\]"):
        source.to_batch(labels[0], images, label_nc=3)


# --------------------------------------------------------------------------------------------- load_pair
def test_load_pair_reads_palette_labels_and_rgb(tmp_path):
    label = RNG.integers(1, 13, size=(6, 7), dtype=np.uint8)
    image = RNG.integers(0, 256, size=(6, 7, 3), dtype=np.uint8)
    (tmp_path / "l.png").write_bytes(png(label, palette=True))
    (tmp_path / "i.png").write_bytes(png(image))
    got_label, got_image = source.load_pair(tmp_path / "l.png", 13, tmp_path / "i.png")
    np.testing.assert_array_equal(got_label, label)
    np.testing.assert_array_equal(got_image, image)
    assert source.load_pair(tmp_path / "l.png", 13)[1] is None


def test_load_pair_errors_name_the_file(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(InputError, match="cannot read label map .*broken.png"):
        source.load_pair(tmp_path / "broken.png", 13)
    with pytest.raises(InputError, match="label map not found: .*missing.png"):
        source.load_pair(tmp_path / "missing.png", 13)
    (tmp_path / "l.png").write_bytes(png(np.full((6, 7), 13, np.uint8)))
    with pytest.raises(InputError, match="l.png: label 13 is out of range"):
        source.load_pair(tmp_path / "l.png", 13)
    (tmp_path / "rgb_label.png").write_bytes(png(np.zeros((6, 7, 3), np.uint8)))
    with pytest.raises(InputError, match="mode RGB"):
        source.load_pair(tmp_path / "rgb_label.png", 13)
    (tmp_path / "ok.png").write_bytes(png(np.ones((6, 7), np.uint8)))
    (tmp_path / "small.png").write_bytes(png(np.zeros((6, 6, 3), np.uint8)))
    with pytest.raises(InputError, match="small.png: image is 6x6 but label map"):
        source.load_pair(tmp_path / "ok.png", 13, tmp_path / "small.png")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.raises(InputError, match="cannot read image .*broken.jpg"):
        source.load_pair(tmp_path / "ok.png", 13, tmp_path / "broken.jpg")
