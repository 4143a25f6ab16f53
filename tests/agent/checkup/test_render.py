"""The offline drawer's programs and the sandboxed renderer: every concept renders; bad programs are stopped."""

import dataclasses

import numpy as np
import pytest

from jaxinterp.agent.checkup import drawer, render
from jaxinterp.agent.checkup.concepts import CONCEPTS, GROUPS, concepts
from jaxinterp.errors import InputError

FAST = dataclasses.replace(render.DRAW_LIMITS, wall_seconds=3.0)


def test_groups_are_disjoint_and_the_offline_drawer_knows_every_concept():
    names = [c.name for g in GROUPS for c in CONCEPTS[g]]
    assert len(names) == len(set(names))
    assert set(drawer.KNOWN) == set(names)
    assert [c.group for c in concepts("shapes,scenes")] == ["shapes"] * 20 + ["scenes"] * 8
    with pytest.raises(InputError):
        concepts("animals")


def test_programs_are_reproducible_and_randomised():
    a = drawer.draw("octagon", np.random.default_rng(3))
    assert a == drawer.draw("octagon", np.random.default_rng(3))
    assert a != drawer.draw("octagon", np.random.default_rng(4))
    assert "savefig('image.png'" in a and "RegularPolygon" in a and ", 8, radius=" in a


def test_every_concept_renders_in_one_batch_and_draws_something():
    rng = np.random.default_rng(0)
    programs = [drawer.draw(c, rng) for c in concepts()] + ["raise ValueError('bad drawing')"]
    images, errors = render.render_batch(programs, size=24)
    assert images.shape == (len(programs), 24, 24, 3) and images.dtype == np.uint8
    assert errors[:-1] == [""] * (len(programs) - 1)
    assert errors[-1] == "ValueError: bad drawing"
    # Each drawing differs from a blank page of its own background colour (its corner pixel).
    ink = np.abs(images[:-1].astype(int) - images[:-1, :1, :1]).max(axis=(1, 2, 3))
    assert (ink > 30).all(), [c.name for c, v in zip(concepts(), ink, strict=False) if v <= 30]


def test_one_program_renders_to_its_png(tmp_path):
    result = render.render(drawer.draw("sun", np.random.default_rng(1)), workdir=tmp_path)
    assert result.ok and result.error == ""
    assert result.image.shape == (256, 256, 3) and result.image.dtype == np.uint8
    assert (tmp_path / "image.png").is_file() and (tmp_path / "main.py").is_file()


def test_drawing_code_that_loops_forever_is_stopped():
    result = render.render("import matplotlib\nwhile True:\n    pass\n", limits=FAST)
    assert not result.ok and result.image is None
    assert "time limit" in result.error and result.seconds < FAST.wall_seconds + 2


def test_drawing_code_that_writes_outside_its_directory_is_stopped(tmp_path):
    outside = tmp_path / "outside.png"
    code = drawer.program(["ax.plot([0, 1], [0, 1])"]).replace("'image.png'", repr(str(outside)))
    result = render.render(code, workdir=tmp_path / "work", limits=FAST)
    assert not result.ok and "PermissionError" in result.error
    assert not outside.exists()


def test_a_program_that_saves_nothing_is_reported():
    result = render.render("print('hello')", limits=FAST)
    assert not result.ok and "did not save 'image.png'" in result.error


def test_gallery_writes_one_row_per_group(tmp_path):
    from jaxinterp.agent.checkup.gallery import gallery

    heading, text, figures = gallery(tmp_path, size=32)
    assert heading.startswith("Vision check-up") and "offline drawer" in text
    assert [path.name for _, path in figures] == ["shapes.png", "objects.png", "scenes.png"]
    from PIL import Image

    assert Image.open(figures[0][1]).size == (20 * 32, 32)
