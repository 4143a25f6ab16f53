"""The vision check-up's concepts as data: three groups of increasing complexity (Sharma et al., CVPR 2024).

The paper's "Visual Aptitude Dataset" has **shapes** (simple shapes and their compositions / attributes: dotted
line, torus, octagon, 3-D cube, concentric circles, ...), **objects** (bicycle, lamp, car, table, bird, ...;
the paper used about a thousand frequent ADE20K object names) and **scenes** (caption-level descriptions such
as "row of bicycles"; the paper used COCO-style captions). The full lists are not public (no code release),
so these are our own lists of the same kinds, seeded with every example shown on the project page; they are
small enough to read. `prompt` is the text the language model is asked to draw, `name` a short id (file names,
tables), `caption` what a recogniser ranks against the other captions of the same group (fidelity).
"""

from __future__ import annotations

import dataclasses

from jaxinterp.errors import InputError

GROUPS = ("shapes", "objects", "scenes")


@dataclasses.dataclass(frozen=True)
class Concept:
    """One thing to draw.

    Attributes:
        name: Short identifier, unique over all groups (`concentric_circles`).
        group: `shapes`, `objects` or `scenes`.
        caption: Natural-language description, used in the prompt and for retrieval (`concentric circles`).
    """

    name: str
    group: str
    caption: str

    @property
    def prompt(self) -> str:
        return f"a {self.caption}" if self.group != "scenes" else self.caption


def _group(group: str, captions: str) -> tuple[Concept, ...]:
    out = []
    for line in captions.strip().splitlines():
        caption = line.strip()
        out.append(Concept(caption.replace(" ", "_").replace("-", "_"), group, caption))
    return tuple(out)


# Shapes: the project page's examples (dotted line, torus, octagon, 3-D cube, concentric circles) and the
# other elementary shapes the paper's figure shows as a row of simple drawings.
SHAPES = _group(
    "shapes",
    """
    circle
    square
    triangle
    rectangle
    pentagon
    hexagon
    octagon
    star
    ellipse
    line
    dotted line
    spiral
    cross
    arrow
    concentric circles
    torus
    cube
    grid
    zigzag
    crescent
    """,
)

# Objects: the page's examples (bicycle, lamp, car, table, bird, dresser) and common ADE20K / everyday objects.
OBJECTS = _group(
    "objects",
    """
    house
    tree
    car
    bicycle
    lamp
    table
    chair
    flower
    sun
    boat
    cup
    clock
    ladder
    dresser
    bird
    """,
)

# Scenes: caption-level compositions in the style of the page's examples ("row of bicycles").
SCENES = _group(
    "scenes",
    """
    row of bicycles
    house next to a tree
    boat on the sea under the sun
    lamp standing beside a table
    street with two cars
    garden with flowers
    forest of trees
    clock above a dresser
    """,
)

CONCEPTS: dict[str, tuple[Concept, ...]] = {"shapes": SHAPES, "objects": OBJECTS, "scenes": SCENES}


def concepts(groups: str | list[str] | tuple[str, ...] = GROUPS, names: list[str] | None = None) -> list[Concept]:
    """The concepts of `groups` (a comma-separated string or a list), optionally only those named in `names`.

    Raises:
        InputError: an unknown group or concept name.
    """
    if isinstance(groups, str):
        groups = [g.strip() for g in groups.split(",") if g.strip()]
    unknown = [g for g in groups if g not in CONCEPTS]
    if unknown or not groups:
        raise InputError(f"concept groups must be among {', '.join(GROUPS)}, got {', '.join(groups) or 'none'}")
    chosen = [c for g in groups for c in CONCEPTS[g]]
    if names:
        known = {c.name: c for c in chosen}
        missing = [n for n in names if n not in known]
        if missing:
            raise InputError(f"unknown concept(s) {', '.join(missing)} in groups {', '.join(groups)}")
        chosen = [known[n] for n in names]
    return chosen


def concept(name: str) -> Concept:
    """The concept called `name` in any group."""
    for group in CONCEPTS.values():
        for c in group:
            if c.name == name:
                return c
    raise InputError(f"unknown concept {name!r}")
