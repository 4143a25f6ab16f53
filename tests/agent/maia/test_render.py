"""Procedural scenes: concept masks are exact, prompts and edits give the scenes they name."""

import numpy as np
import pytest

from jaxinterp.agent.maia import render
from jaxinterp.errors import InputError


def test_masks_of_a_single_thing_are_its_pixels_and_the_rest_is_background():
    scene = render.Scene("grass", (render.Thing("circle", "red", "plain", 0.5, 0.5, 0.5),))
    r = render.render(scene, 64)
    masks = render.concept_masks(r)
    thing = r.object_map == 1
    assert 0.1 < thing.mean() < 0.3  # a circle of diameter 32 px in 64 x 64: pi/16 ~ 0.18
    np.testing.assert_array_equal(masks["red"], thing)
    np.testing.assert_array_equal(masks["circle"], thing)
    np.testing.assert_array_equal(masks["grass"], ~thing)
    assert not any(masks[c].any() for c in render.CONCEPTS if c not in ("red", "circle", "grass"))
    np.testing.assert_array_equal(np.unique(r.image[thing], axis=0), [[215, 35, 35]])  # plain red, exactly


def test_uncoloured_parts_belong_to_the_object_but_to_no_colour():
    r = render.render(render.Scene("sky", (render.Thing("car", "blue", "stripes"),)), 64)
    masks = render.concept_masks(r)
    np.testing.assert_array_equal(masks["car"], masks["stripes"])
    wheels = masks["car"] & ~masks["blue"]
    assert wheels.sum() > 20 and not masks["sky"][wheels].any()
    assert (masks["blue"] | wheels | masks["sky"]).all()


def test_occlusion_keeps_only_visible_pixels():
    scene = render.Scene(
        "plain", (render.Thing("square", "red", x=0.4, size=0.5), render.Thing("square", "blue", x=0.6, size=0.5))
    )
    masks = render.concept_masks(render.render(scene, 64))
    assert not (masks["red"] & masks["blue"]).any()
    assert masks["blue"].sum() > masks["red"].sum()  # the later square covers part of the first


def test_prompt_names_things_counts_and_background_and_is_deterministic():
    scene = render.scene_from_prompt("two red striped circles and a blue house on the beach")
    assert [(t.kind, t.colour, t.texture) for t in scene.things] == [
        ("circle", "red", "stripes"),
        ("circle", "red", "stripes"),
        ("house", "blue", scene.things[2].texture),
    ]
    assert scene.background == "sand"
    assert render.scene_from_prompt("a yellow star at night").background == "night"
    assert render.scene_from_prompt("a star on a plain grey background").things[0].kind == "star"
    assert len(render.scene_from_prompt("a star on a plain grey background").things) == 1
    same = render.render(render.scene_from_prompt("a green tree", 3)).image
    np.testing.assert_array_equal(same, render.render(render.scene_from_prompt("a green tree", 3)).image)


def test_edits_replace_what_they_name_and_keep_the_rest():
    scene = render.scene_from_prompt("a red circle and a blue square on grass")
    edited = render.edit_scene(scene, "replace the red circle with a yellow star")
    assert (edited.things[0].kind, edited.things[0].colour) == ("star", "yellow")
    assert (edited.things[0].x, edited.things[0].y) == (scene.things[0].x, scene.things[0].y)
    assert edited.things[1] == scene.things[1] and edited.background == "grass"
    assert render.edit_scene(scene, "replace the grass with water").background == "water"
    assert render.edit_scene(scene, "make the square green").things[1].colour == "green"
    assert len(render.edit_scene(scene, "remove the circle").things) == 1
    with pytest.raises(InputError, match="no purple"):
        render.edit_scene(scene, "replace the purple triangle with a car")
    with pytest.raises(InputError, match="cannot apply edit"):
        render.edit_scene(scene, "make it nicer")
