"""Procedural scenes with exact concept masks: MAIA's offline image generator, editor and ground truth.

MAIA (Rott Shaham et al., ICML 2024) probes a unit with images from Stable Diffusion and InstructPix2Pix, and
scores its synthetic neurons with Grounded-SAM. Offline we need all three without weights, so every image here
is *rendered from a scene spec*, and the spec gives each pixel's concepts exactly:

    scene = scene_from_prompt("a red striped circle and a blue house on grass")
    image = render(scene)                     # uint8 [64, 64, 3] plus per-pixel maps
    masks = concept_masks(image)              # {"red": bool [64, 64], "circle": ..., "grass": ...}
    scene2 = edit_scene(scene, "replace the red circle with a yellow star")

Vocabulary (one word per concept, so a description can be matched word by word):
- colours: red green blue yellow purple orange white black;
- shapes: circle square triangle star cross diamond;
- objects (compositions of parts in shades of one colour; a tree's trunk and a car's wheels are uncoloured):
  house tree car flower boat;
- textures of an object's main part: stripes dots checkered (and plain, which is no concept);
- backgrounds: grass sky sand water night (and plain grey, which is no concept).

A scene is a background and up to `MAX_THINGS` things (kind, colour, texture, centre, size). Later things are
drawn over earlier ones; masks hold what is visible. Concept masks are defined as: a kind covers the visible
pixels of things of that kind; a colour covers object pixels drawn in a shade of that colour (not the
background: grass is not "green"); a texture covers the visible pixels of things with that texture; a background
covers the pixels no thing covers.

This module needs only numpy and PIL (the vision check-up imports it as a recogniser's world model).
Decisions (no paper to follow): 64 x 64 px by default; a prompt's unnamed attributes and all layout are drawn from
a generator seeded with the prompt's text and the image index, so a prompt always renders the same images.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Sequence

import numpy as np
from jaxtyping import Bool, UInt8

from jaxinterp.errors import InputError

COLOURS = ("red", "green", "blue", "yellow", "purple", "orange", "white", "black")
SHAPES = ("circle", "square", "triangle", "star", "cross", "diamond")
OBJECTS = ("house", "tree", "car", "flower", "boat")
KINDS = SHAPES + OBJECTS
TEXTURES = ("plain", "stripes", "dots", "checkered")
BACKGROUNDS = ("plain", "grass", "sky", "sand", "water", "night")
# Concepts a neuron can detect, grouped; "plain" texture and background are the absence of one.
CONCEPT_GROUPS = {
    "colour": COLOURS,
    "shape": SHAPES,
    "object": OBJECTS,
    "texture": TEXTURES[1:],
    "background": BACKGROUNDS[1:],
}
CONCEPTS = tuple(c for group in CONCEPT_GROUPS.values() for c in group)
GROUP_OF = {c: g for g, names in CONCEPT_GROUPS.items() for c in names}
MAX_THINGS = 3
NO_COLOUR = 255  # colour-map value of uncoloured parts (tree trunks, wheels, masts) and the background
DEFAULT_SIZE = 64

_RGB = np.array(
    [[215, 35, 35], [35, 165, 55], [40, 75, 215], [240, 205, 30], [135, 50, 180], [245, 135, 25], [245, 245, 240],
     [25, 25, 28]],
    dtype=np.float32,
)  # fmt: skip
_BROWN, _DARK = np.array([110, 70, 35], np.float32), np.array([55, 55, 60], np.float32)

# Words a prompt may use for each concept (plurals are handled by stripping a final "s").
_SYNONYMS = {
    "red": "red", "green": "green", "blue": "blue", "yellow": "yellow", "purple": "purple", "violet": "purple",
    "orange": "orange", "white": "white", "black": "black",
    "circle": "circle", "disc": "circle", "disk": "circle", "ball": "circle", "dot": "circle", "square": "square",
    "box": "square", "rectangle": "square", "triangle": "triangle", "star": "star", "cross": "cross", "plus": "cross",
    "diamond": "diamond", "rhombus": "diamond",
    "house": "house", "home": "house", "building": "house", "tree": "tree", "car": "car", "vehicle": "car",
    "flower": "flower", "blossom": "flower", "boat": "boat", "ship": "boat", "sailboat": "boat",
    "striped": "stripes", "stripes": "stripes", "stripe": "stripes", "stripy": "stripes", "dotted": "dots",
    "dots": "dots", "spotted": "dots", "spots": "dots", "polka": "dots", "checkered": "checkered",
    "chequered": "checkered", "checkerboard": "checkered", "checked": "checkered", "plaid": "checkered",
    "solid": "plain", "plain": "plain", "uniform": "plain",
    "grass": "grass", "grassy": "grass", "lawn": "grass", "field": "grass", "meadow": "grass", "sky": "sky",
    "clouds": "sky", "sand": "sand", "sandy": "sand", "beach": "sand", "desert": "sand", "water": "water",
    "sea": "water", "ocean": "water", "lake": "water", "river": "water", "night": "night", "dark": "night",
}  # fmt: skip
_COUNTS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "1": 1, "2": 2, "3": 3, "several": 3, "many": 3}


@dataclasses.dataclass(frozen=True)
class Thing:
    """One shape or object: kind, colour and texture names, centre (x, y) and size as fractions of the image."""

    kind: str
    colour: str
    texture: str = "plain"
    x: float = 0.5
    y: float = 0.5
    size: float = 0.5

    def phrase(self) -> str:
        texture = {"plain": "", "stripes": "striped ", "dots": "dotted ", "checkered": "checkered "}[self.texture]
        return f"{self.colour} {texture}{self.kind}"


@dataclasses.dataclass(frozen=True)
class Scene:
    """A background name and the things drawn over it, first to last."""

    background: str
    things: tuple[Thing, ...]

    def caption(self) -> str:
        """A one-line description, e.g. "a red striped circle and a blue house on grass"."""
        where = {"plain": "on a plain grey background", "sky": "in the sky", "night": "at night"}.get(
            self.background, f"on {self.background}"
        )
        if not self.things:
            return f"an empty scene {where}"
        names = [("an " if t.phrase()[0] in "aeiou" else "a ") + t.phrase() for t in self.things]
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        return f"{listed} {where}"


@dataclasses.dataclass(frozen=True)
class Rendering:
    """A rendered scene: the image and the per-pixel maps its concept masks are read from.

    Attributes:
        image: uint8 [h, w, 3].
        object_map: uint8 [h, w]; 0 = background, k = the scene's k-th thing (1-based).
        colour_map: uint8 [h, w]; index into `COLOURS` of the pixel's shade, `NO_COLOUR` where none.
        scene: The spec it was rendered from.
    """

    image: UInt8[np.ndarray, "h w 3"]
    object_map: UInt8[np.ndarray, "h w"]
    colour_map: UInt8[np.ndarray, "h w"]
    scene: Scene


# ---------------------------------------------------------------------------------------------- drawing
def _shape_mask(kind: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside-test of a shape in local coordinates (u, v in [-1, 1] span the thing's box, v pointing down)."""
    if kind == "circle":
        return u**2 + v**2 <= 0.9
    if kind == "square":
        return (np.abs(u) <= 0.78) & (np.abs(v) <= 0.78)
    if kind == "triangle":
        return (v <= 0.8) & (np.abs(u) <= (v + 0.9) / 1.7 * 0.95)
    if kind == "diamond":
        return np.abs(u) + np.abs(v) <= 0.98
    if kind == "cross":
        return ((np.abs(u) <= 0.3) & (np.abs(v) <= 0.95)) | ((np.abs(v) <= 0.3) & (np.abs(u) <= 0.95))
    if kind == "star":
        rho, theta = np.hypot(u, v), np.arctan2(v, u)
        return rho <= 0.4 + 0.58 * ((1 + np.cos(5 * (theta + np.pi / 2))) / 2) ** 2
    raise InputError(f"unknown shape {kind!r}")


def _parts(kind: str, u: np.ndarray, v: np.ndarray) -> list[tuple[np.ndarray, str]]:
    """(mask, paint) per part of a thing, drawn in order; paint is main (textured), light, dark, or an
    uncoloured material (brown, grey)."""
    if kind in SHAPES:
        return [(_shape_mask(kind, u, v), "main")]
    if kind == "house":
        body = (np.abs(u) <= 0.7) & (v >= 0.0) & (v <= 0.92)
        roof = (v < 0.0) & (v >= -0.85) & (np.abs(u) <= 0.88 * (v + 0.85) / 0.85)
        door = (np.abs(u) <= 0.16) & (v >= 0.45) & (v <= 0.92)
        return [(body, "main"), (roof, "dark"), (door, "dark")]
    if kind == "tree":
        trunk = (np.abs(u) <= 0.16) & (v >= 0.1) & (v <= 0.95)
        crown = u**2 + (v + 0.3) ** 2 <= 0.62**2
        return [(trunk, "brown"), (crown, "main")]
    if kind == "car":
        body = (np.abs(u) <= 0.95) & (v >= -0.1) & (v <= 0.45)
        cabin = (np.abs(u) <= 0.52) & (v >= -0.5) & (v < -0.1)
        wheels = ((np.abs(u) - 0.55) ** 2 + (v - 0.5) ** 2) <= 0.26**2
        return [(body, "main"), (cabin, "light"), (wheels, "grey")]
    if kind == "flower":
        angles = np.arange(5) * 2 * np.pi / 5 - np.pi / 2
        petals = np.zeros_like(u, dtype=bool)
        for a in angles:
            petals |= (u - 0.52 * np.cos(a)) ** 2 + (v - 0.52 * np.sin(a)) ** 2 <= 0.36**2
        centre = u**2 + v**2 <= 0.3**2
        return [(petals, "main"), (centre, "dark")]
    if kind == "boat":
        hull = (v >= 0.35) & (v <= 0.75) & (np.abs(u) <= 0.95 - (v - 0.35) * 0.9)
        mast = (np.abs(u) <= 0.05) & (v >= -0.9) & (v < 0.35)
        sail = (u >= 0.09) & (v >= -0.85) & (v <= 0.25) & (u <= 0.09 + (v + 0.85) / 1.1 * 0.65)
        return [(hull, "main"), (mast, "grey"), (sail, "light")]
    raise InputError(f"unknown kind {kind!r}; choose one of: {', '.join(KINDS)}")


def _texture(texture: str, ys: np.ndarray, xs: np.ndarray, period: int) -> np.ndarray:
    """Brightness factor per pixel of a texture (1 = the colour itself), laid out in image coordinates."""
    if texture == "plain":
        return np.ones_like(xs, dtype=np.float32)
    if texture == "stripes":
        dark = ((xs + ys) // period) % 2 == 1
    elif texture == "dots":
        cy, cx = ys % (2 * period) - period + 0.5, xs % (2 * period) - period + 0.5
        dark = cy**2 + cx**2 <= (0.55 * period) ** 2
    elif texture == "checkered":
        dark = ((xs // period) + (ys // period)) % 2 == 1
    else:
        raise InputError(f"unknown texture {texture!r}; choose one of: {', '.join(TEXTURES)}")
    return np.where(dark, 0.45, 1.0).astype(np.float32)


def _background(name: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """float32 [size, size, 3] RGB in 0..255 for a background, with some random variation."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size
    noise = rng.normal(0.0, 1.0, (size, size, 1)).astype(np.float32)
    if name == "plain":
        return np.full((size, size, 3), 150, np.float32) + 4 * noise
    if name == "grass":
        blades = np.sin(xs * 90 + rng.uniform(0, 6)) * np.sin(ys * 23)
        return np.array([70, 140, 45], np.float32) + 14 * noise + 12 * blades[..., None]
    if name == "sky":
        top, bottom = np.array([90, 150, 230], np.float32), np.array([190, 220, 250], np.float32)
        cloud = np.clip(np.sin(xs * 9 + rng.uniform(0, 6)) * np.sin(ys * 7 + rng.uniform(0, 6)) - 0.5, 0, 1)
        return top + (bottom - top) * ys[..., None] + 120 * cloud[..., None] + 2 * noise
    if name == "sand":
        dunes = np.sin(ys * 20 + 3 * np.sin(xs * 6 + rng.uniform(0, 6)))
        return np.array([222, 196, 140], np.float32) + 8 * noise + 10 * dunes[..., None]
    if name == "water":
        waves = np.sin(ys * 60 + 2 * np.sin(xs * 12 + rng.uniform(0, 6)))
        return np.array([35, 90, 160], np.float32) + 6 * noise + 25 * waves[..., None]
    if name == "night":
        sky = np.array([14, 18, 42], np.float32) + 3 * noise
        stars = rng.random((size, size)) < 0.012
        return np.where(stars[..., None], 235.0, sky)
    raise InputError(f"unknown background {name!r}; choose one of: {', '.join(BACKGROUNDS)}")


def render(scene: Scene, size: int = DEFAULT_SIZE, seed: int = 0) -> Rendering:
    """Draws `scene` at `size` x `size` px; `seed` varies only the background's noise."""
    if size < 16:
        raise InputError(f"render size must be at least 16 px, got {size}")
    if scene.background not in BACKGROUNDS:
        raise InputError(f"unknown background {scene.background!r}; choose one of: {', '.join(BACKGROUNDS)}")
    rng = np.random.default_rng([seed, size])
    canvas = _background(scene.background, size, rng)
    object_map = np.zeros((size, size), np.uint8)
    colour_map = np.full((size, size), NO_COLOUR, np.uint8)
    ys, xs = np.mgrid[0:size, 0:size]
    period = max(2, size // 21)
    for k, thing in enumerate(scene.things, start=1):
        if thing.colour not in COLOURS:
            raise InputError(f"unknown colour {thing.colour!r}; choose one of: {', '.join(COLOURS)}")
        half = max(thing.size * size / 2, 2.0)
        u, v = (xs + 0.5 - thing.x * size) / half, (ys + 0.5 - thing.y * size) / half
        base = _RGB[COLOURS.index(thing.colour)]
        shade = _texture(thing.texture, ys, xs, period)[..., None]
        paints = {
            "main": base * shade,
            "light": base + (255 - base) * 0.45,
            "dark": base * 0.55 + 10,
            "brown": np.broadcast_to(_BROWN, (size, size, 3)),
            "grey": np.broadcast_to(_DARK, (size, size, 3)),
        }
        for mask, paint in _parts(thing.kind, u, v):
            colour = paints[paint] if paint == "main" else np.broadcast_to(paints[paint], (size, size, 3))
            canvas = np.where(mask[..., None], colour, canvas)
            object_map[mask] = k
            colour_map[mask] = NO_COLOUR if paint in ("brown", "grey") else COLOURS.index(thing.colour)
    image = np.clip(np.round(canvas), 0, 255).astype(np.uint8)
    return Rendering(image, object_map, colour_map, scene)


# ---------------------------------------------------------------------------------------------- masks
def masks_from_maps(
    object_map: UInt8[np.ndarray, "*b h w"],
    colour_map: UInt8[np.ndarray, "*b h w"],
    kinds: Sequence[str] | np.ndarray,
    textures: Sequence[str] | np.ndarray,
    background: str | np.ndarray,
) -> dict[str, Bool[np.ndarray, "*b h w"]]:
    """Every concept's mask (module docstring) from the stored maps of one image or a batch.

    For a batch, `kinds` / `textures` are int arrays [b, MAX_THINGS] of indices into KINDS / TEXTURES (-1: no
    thing) and `background` an int array [b] into BACKGROUNDS; for one image they may be names.
    """
    object_map, colour_map = np.asarray(object_map), np.asarray(colour_map)
    if isinstance(background, str):
        kinds = np.array([[KINDS.index(k) for k in kinds] + [-1] * (MAX_THINGS - len(kinds))])
        textures = np.array([[TEXTURES.index(t) for t in textures] + [-1] * (MAX_THINGS - len(textures))])
        background = np.array([BACKGROUNDS.index(background)])
        single = True
        object_map, colour_map = object_map[None], colour_map[None]
    else:
        single = False
    kinds, textures, background = np.asarray(kinds), np.asarray(textures), np.asarray(background)
    # Per pixel: the kind / texture index of the visible thing (-1 on the background).
    padded_kinds = np.concatenate([np.full((len(kinds), 1), -1), kinds], axis=1)
    padded_textures = np.concatenate([np.full((len(textures), 1), -1), textures], axis=1)
    pixel_kind = np.take_along_axis(padded_kinds, object_map.reshape(len(kinds), -1), 1).reshape(object_map.shape)
    pixel_texture = np.take_along_axis(padded_textures, object_map.reshape(len(kinds), -1), 1).reshape(object_map.shape)
    on_background = object_map == 0
    masks = {}
    for i, c in enumerate(COLOURS):
        masks[c] = colour_map == i
    for i, k in enumerate(KINDS):
        masks[k] = pixel_kind == i
    for i, t in enumerate(TEXTURES[1:], start=1):
        masks[t] = pixel_texture == i
    for i, b in enumerate(BACKGROUNDS[1:], start=1):
        masks[b] = on_background & (background[:, None, None] == i)
    return {c: m[0] for c, m in masks.items()} if single else masks


def concept_masks(rendering: Rendering) -> dict[str, Bool[np.ndarray, "h w"]]:
    """Exact mask of every concept in `CONCEPTS` for a rendered scene."""
    scene = rendering.scene
    return masks_from_maps(
        rendering.object_map,
        rendering.colour_map,
        [t.kind for t in scene.things],
        [t.texture for t in scene.things],
        scene.background,
    )


# ---------------------------------------------------------------------------------------------- scenes
def random_thing(rng: np.random.Generator, kind: str | None = None, colour: str | None = None,
                 texture: str | None = None) -> Thing:  # fmt: skip
    """A thing with the given attributes and the rest drawn from `rng` (texture plain with probability 0.4)."""
    if texture is None:
        texture = "plain" if rng.random() < 0.4 else str(rng.choice(TEXTURES[1:]))
    size = float(rng.uniform(0.34, 0.56))
    return Thing(
        kind=kind or str(rng.choice(KINDS)),
        colour=colour or str(rng.choice(COLOURS)),
        texture=texture,
        x=float(rng.uniform(size / 2, 1 - size / 2)),
        y=float(rng.uniform(size / 2, 1 - size / 2)),
        size=size,
    )


def random_scene(rng: np.random.Generator, max_things: int = MAX_THINGS) -> Scene:
    """A background and 1..max_things things, all drawn from `rng` (the dataset's distribution)."""
    n = int(rng.integers(1, max_things + 1))
    return Scene(str(rng.choice(BACKGROUNDS)), tuple(_place([random_thing(rng) for _ in range(n)], rng)))


def prompt_rng(text: str, index: int = 0) -> np.random.Generator:
    """A generator seeded by a prompt's text and an image index (same prompt, same images)."""
    digest = hashlib.sha256(text.strip().lower().encode()).digest()
    return np.random.default_rng([int.from_bytes(digest[:8], "little"), index])


_PLAIN_BACKGROUND = re.compile(r"\b(?:(?:plain|grey|gray|blank|empty|uniform)\s+)+background\b")


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _concept_of(word: str) -> str | None:
    if word in _SYNONYMS:
        return _SYNONYMS[word]
    for suffix in ("es", "s"):
        if word.endswith(suffix) and word[: -len(suffix)] in _SYNONYMS:
            return _SYNONYMS[word[: -len(suffix)]]
    return None


@dataclasses.dataclass(frozen=True)
class Phrase:
    """What a noun phrase of a prompt names: kind, colour, texture (None where unnamed), a count, a background."""

    kind: str | None = None
    colour: str | None = None
    texture: str | None = None
    count: int = 1
    background: str | None = None

    def names_thing(self) -> bool:
        return any(x is not None for x in (self.kind, self.colour, self.texture))


def parse_phrases(text: str) -> list[Phrase]:
    """Noun phrases of `text`: runs of attribute words closed by a kind word, plus background words.

    "two red striped circles and a blue house on grass" -> [circle red stripes x2, house blue, background grass].
    Attributes not followed by a kind ("something red") still form a phrase without a kind.
    """
    phrases: list[Phrase] = []
    current: dict = {}
    text = _PLAIN_BACKGROUND.sub(" plainbackground ", text.lower())
    for word in _words(text):
        if word in _COUNTS and not current:
            current["count"] = _COUNTS[word]
            continue
        if word == "plainbackground":
            phrases.append(Phrase(background="plain"))
            continue
        concept = _concept_of(word)
        if concept is None:
            continue
        if GROUP_OF.get(concept) == "background":
            phrases.append(Phrase(background=concept))
            continue
        slot = "kind" if concept in KINDS else "colour" if concept in COLOURS else "texture"
        if slot in current:  # a second colour / texture / kind starts a new phrase
            phrases.append(Phrase(**current))
            current = {}
        current[slot] = concept
        if slot == "kind":
            phrases.append(Phrase(**current))
            current = {}
    if any(k in current for k in ("kind", "colour", "texture")):
        phrases.append(Phrase(**current))
    return phrases


def scene_from_prompt(prompt: str, index: int = 0) -> Scene:
    """The scene a text prompt names; unnamed attributes, layout and (if none is named) the background are drawn
    from `prompt_rng(prompt, index)`. A prompt naming no thing gets one random thing; at most MAX_THINGS things."""
    rng = prompt_rng(prompt, index)
    phrases = parse_phrases(prompt)
    backgrounds = [p.background for p in phrases if p.background]
    things_named = [p for p in phrases if p.names_thing()]
    wanted = [p for p in things_named for _ in range(p.count)][:MAX_THINGS]
    if not wanted:
        wanted = [Phrase()]
    things = _place([random_thing(rng, p.kind, p.colour, p.texture) for p in wanted], rng)
    background = backgrounds[0] if backgrounds else str(rng.choice(BACKGROUNDS))
    return Scene(background, tuple(things))


def _place(things: list[Thing], rng: np.random.Generator) -> list[Thing]:
    """Spreads several things over the image (left to right slots, jittered) so each stays mostly visible."""
    n = len(things)
    if n <= 1:
        return things
    size = {2: 0.46, 3: 0.36}.get(n, 0.3)
    out = []
    for i, t in enumerate(things):
        x = (i + 0.5) / n + float(rng.uniform(-0.03, 0.03))
        y = float(rng.uniform(size / 2 + 0.05, 1 - size / 2 - 0.05))
        out.append(dataclasses.replace(t, x=float(np.clip(x, size / 2, 1 - size / 2)), y=y, size=size))
    return out


_EDIT = re.compile(
    r"^\s*(?:replace|swap|substitute)\s+(?P<old>.+?)\s+(?:with|by|for)\s+(?P<new>.+?)\s*\.?\s*$"
    r"|^\s*(?:change|turn|make)\s+(?P<old2>.+?)\s+(?:into|to|become)\s+(?P<new2>.+?)\s*\.?\s*$"
    r"|^\s*(?:add|insert|draw)\s+(?P<add>.+?)\s*\.?\s*$"
    r"|^\s*(?:remove|delete|erase)\s+(?P<remove>.+?)\s*\.?\s*$",
    re.IGNORECASE,
)


def _matches(thing: Thing, phrase: Phrase) -> bool:
    return all(
        want is None or want == have
        for want, have in ((phrase.kind, thing.kind), (phrase.colour, thing.colour), (phrase.texture, thing.texture))
    )


def edit_scene(scene: Scene, instruction: str) -> Scene:
    """Applies an edit instruction to a scene, keeping everything it does not name.

    Understood forms: "replace X with Y" (also "swap", "substitute"), "change / turn / make X into / to Y",
    "add X", "remove X". X and Y are noun phrases in the vocabulary ("the red circle", "a blue striped
    square", "the grass"); every thing matching X gets Y's named attributes (a kind, colour or texture Y does
    not name is kept), or X's background becomes Y's. Raises InputError naming what could not be understood.
    """
    match = _EDIT.match(instruction)
    short = re.match(r"^\s*(?:make|paint|colou?r)\s+(?P<rest>.+?)\s*\.?\s*$", instruction, re.IGNORECASE)
    if not match and short:  # "make the square green": the first phrase is X, what follows is Y
        phrases = parse_phrases(short["rest"])
        if len(phrases) >= 2 and phrases[0].kind is not None:
            text = short["rest"].lower()
            cut = max(text.find(phrases[0].kind), 0) + len(phrases[0].kind)
            return edit_scene(scene, f"change {text[:cut]} to {text[cut:]}")
    if not match:
        raise InputError(
            f"cannot apply edit {instruction!r}: use 'replace X with Y', 'change X to Y', 'add X' or 'remove X'"
        )
    groups = match.groupdict()
    rng = prompt_rng(instruction)
    if groups["add"]:
        phrases = [p for p in parse_phrases(groups["add"]) if p.names_thing()]
        if not phrases:
            raise InputError(f"edit {instruction!r} names nothing to add")
        added = [random_thing(rng, p.kind, p.colour, p.texture) for p in phrases for _ in range(p.count)]
        things = _place([*scene.things, *added][:MAX_THINGS], rng)
        return Scene(scene.background, tuple(things))
    if groups["remove"]:
        old = _one_phrase(groups["remove"], instruction)
        return Scene(scene.background, tuple(t for t in scene.things if not _matches(t, old)))
    old = _one_phrase(groups["old"] or groups["old2"], instruction)
    new = _one_phrase(groups["new"] or groups["new2"], instruction)
    if old.background is not None or (new.background is not None and not old.names_thing()):
        if new.background is None:
            raise InputError(f"edit {instruction!r}: a background can only become another background")
        return Scene(new.background, scene.things)
    if not any(_matches(t, old) for t in scene.things):
        named = re.sub(r"^(?:the|a|an)\s+", "", (groups["old"] or groups["old2"]).strip(), flags=re.IGNORECASE)
        raise InputError(f"edit {instruction!r}: the image has no {named}")
    things = tuple(
        dataclasses.replace(
            t,
            kind=new.kind or t.kind,
            colour=new.colour or t.colour,
            texture=new.texture or t.texture,
        )
        if _matches(t, old)
        else t
        for t in scene.things
    )
    return Scene(scene.background, things)


def _one_phrase(text: str, instruction: str) -> Phrase:
    phrases = parse_phrases(text)
    if not phrases:
        raise InputError(
            f"edit {instruction!r}: {text!r} names no shape, object, colour, texture or background we can draw"
        )
    merged: dict = {}
    for p in phrases:  # "the red circle on grass" -> one phrase with a background
        for key in ("kind", "colour", "texture", "background"):
            value = getattr(p, key)
            if value is not None and key not in merged:
                merged[key] = value
    return Phrase(**merged)
