"""mech/heatmaps.py: pixels of the drawn cells match the colour map, and patching results reduce correctly."""

import numpy as np
import pytest
from penzai import pz
from PIL import Image

from jaxinterp.mech import heatmaps


def pixel(image, geo, row, col):
    return np.asarray(image.getpixel(geo.cell_center(row, col)), dtype=int)[:3]


def draw(tmp_path, values, **kwargs):
    kwargs = {"row_label": "layer", "col_label": "head", "title": "t", **kwargs}
    path = heatmaps.heatmap_png(values, tmp_path / "h.png", **kwargs)
    image = Image.open(path).convert("RGB")
    finite = np.asarray(values, float)[np.isfinite(values)]
    geo = heatmaps.layout(*np.shape(values), **kwargs, limit=float(np.abs(finite).max()) if finite.size else 0.0)
    return path, image, geo


def test_png_size_and_cell_colours(tmp_path):
    values = np.array([[0.0, 2.0, -1.0], [-4.0, 1.0, np.nan]])
    path, image, geo = draw(tmp_path, values)
    assert path.exists() and path.suffix == ".png"
    assert image.size == (geo.width, geo.height)
    assert 3 * 18 < image.width < 400 and 2 * 18 < image.height < 300

    r, g, b = pixel(image, geo, 1, 0)  # most negative: full blue
    assert b > r + 80 and b > g + 40
    r, g, b = pixel(image, geo, 0, 1)  # largest positive (half the limit): red-dominant
    assert r > b + 40 and r > g + 40
    assert (pixel(image, geo, 0, 0) >= 245).all()  # zero: near-white
    assert tuple(pixel(image, geo, 1, 2)) == heatmaps.NAN_RGB
    r, g, b = pixel(image, geo, 0, 2)  # -1/4 of the limit: pale blue, lighter than -limit
    assert b > r and pixel(image, geo, 0, 2).sum() > pixel(image, geo, 1, 0).sum()


def test_symmetric_limits_full_red_at_max(tmp_path):
    values = np.array([[3.0, -1.0]])
    _, image, geo = draw(tmp_path, values, col_ticks=["The", " cat"])
    assert tuple(pixel(image, geo, 0, 0)) == heatmaps.POSITIVE_RGB
    # colour bar: top end is +limit (red), bottom end -limit (blue)
    x0, y0, x1, y1 = geo.colorbar
    assert tuple(image.getpixel(((x0 + x1) // 2, y0))) == heatmaps.POSITIVE_RGB
    assert tuple(image.getpixel(((x0 + x1) // 2, y1 - 2)))[2] > 150


def test_all_zero_and_all_nan_do_not_crash(tmp_path):
    _, image, geo = draw(tmp_path, np.zeros((2, 2)))
    assert (pixel(image, geo, 1, 1) >= 250).all()
    _, image, geo = draw(tmp_path, np.full((1, 1), np.nan))
    assert tuple(pixel(image, geo, 0, 0)) == heatmaps.NAN_RGB


@pytest.mark.parametrize("bad", [np.zeros(3), np.zeros((2, 2, 2)), np.zeros((0, 3)), np.zeros((2, 0))])
def test_bad_shapes_raise(tmp_path, bad):
    with pytest.raises(ValueError):
        heatmaps.heatmap_png(bad, tmp_path / "x.png", row_label="r", col_label="c")


def test_wrong_tick_count_raises(tmp_path):
    with pytest.raises(ValueError):
        heatmaps.heatmap_png(np.zeros((2, 2)), tmp_path / "x.png", row_label="r", col_label="c", col_ticks=["a"])


def test_heads_result_writes_two_views(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(3, 5, 4, 2))  # layer, seq, heads, batch
    effects = pz.nx.wrap(data).tag("layer", "seq", "heads", "batch")
    paths = heatmaps.save_patching_heatmaps(effects, tmp_path, name="hp", tokens=["a", "b", "c", "d", "e"])
    assert [p.name for p in paths] == ["hp_layer_head.png", "hp_layer_position.png"]
    assert all(Image.open(p).size[0] > 0 for p in paths)
    np.testing.assert_allclose(
        heatmaps._reduce(*heatmaps._to_numpy(effects), ("layer", "heads")), data.mean(axis=(1, 3)), rtol=1e-5
    )
    np.testing.assert_allclose(
        heatmaps._reduce(*heatmaps._to_numpy(effects), ("layer", "seq")), data.mean(axis=(2, 3)), rtol=1e-5
    )


def test_gqa_flattening_and_cell_placement(tmp_path):
    layers, seq, groups, queries, batch = 2, 3, 2, 3, 2
    data = np.zeros((layers, seq, groups, queries, batch))
    data[1, :, 1, 2, :] = 5.0  # layer 1, head 1*3+2 = 5
    data[0, :, 0, 1, :] = -5.0  # layer 0, head 1
    # axes in a scrambled order: the reduction must go by name
    effects = pz.nx.wrap(np.transpose(data, (4, 3, 0, 2, 1))).tag("batch", "query_heads", "layer", "head_groups", "seq")
    values, names = heatmaps._to_numpy(effects)
    head_view = heatmaps._reduce(values, names, ("layer", "heads"))
    assert head_view.shape == (layers, groups * queries)
    assert head_view[1, 5] == 5.0 and head_view[0, 1] == -5.0 and np.count_nonzero(head_view) == 2

    paths = heatmaps.save_patching_heatmaps(effects, tmp_path)
    assert [p.name for p in paths] == ["patching_layer_head.png", "patching_layer_position.png"]
    image = Image.open(paths[0]).convert("RGB")
    geo = heatmaps.layout(
        layers,
        groups * queries,
        row_label="layer",
        col_label="head",
        title="patching: layer x head (mean over seq, batch)",
        limit=5.0,
    )
    assert image.size == (geo.width, geo.height)
    assert tuple(pixel(image, geo, 1, 5)) == heatmaps.POSITIVE_RGB
    assert tuple(pixel(image, geo, 0, 1)) == heatmaps.NEGATIVE_RGB
    assert (pixel(image, geo, 0, 0) == 255).all()


def test_resid_result_writes_only_position_view(tmp_path):
    data = np.arange(2 * 4 * 3, dtype=float).reshape(2, 4, 3)
    effects = pz.nx.wrap(data).tag("layer", "seq", "batch")
    paths = heatmaps.save_patching_heatmaps(effects, tmp_path / "sub", name="resid", tokens=list("wxyz"))
    assert [p.name for p in paths] == ["resid_layer_position.png"]
    assert paths[0].exists()


def test_unknown_axes_are_averaged(tmp_path):
    data = np.random.default_rng(1).normal(size=(2, 3, 4))
    effects = pz.nx.wrap(data).tag("layer", "seq", "extra")
    np.testing.assert_allclose(
        heatmaps._reduce(*heatmaps._to_numpy(effects), ("layer", "seq")), data.mean(axis=2), rtol=1e-5
    )


def test_bad_results_raise(tmp_path):
    with pytest.raises(ValueError):
        heatmaps.save_patching_heatmaps(pz.nx.wrap(np.zeros((2, 3))).tag("seq", "batch"), tmp_path)
    with pytest.raises(ValueError):
        heatmaps.save_patching_heatmaps(pz.nx.wrap(np.zeros((2, 3))).tag("layer", "seq"), tmp_path, tokens=["a"])
    with pytest.raises(ValueError):
        heatmaps.save_patching_heatmaps(pz.nx.wrap(np.zeros((2, 3, 2))).tag("layer", "seq", "head_groups"), tmp_path)
