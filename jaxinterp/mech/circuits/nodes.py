"""Circuits as sets of (layer, head, position role) nodes, and the keep masks that evaluate them.

Prakash et al. 2024 (ICLR, "Fine-tuning enhances existing mechanisms") describe the entity-tracking circuit
as four groups of attention heads, each acting at one token position:

  group                  role (position)       where in a boxes prompt
  value_fetcher          last                  the last token
  position_transmitter   last                  the last token
  position_detector      query_label           the query's box label (last - 2 in LLaMA tokens)
  structure_reader       prev_query_label      the query label's earlier occurrence in the context

A node is (layer, head, role); one head may sit in several groups (L11H23 of LLaMA-7B is in three), and
the circuit's size counts nodes, not group memberships: the LLaMA-7B circuit has 40 + 7 + 20 + 5 = 72.
Roles are names, resolved to token positions per prompt (`positions[role]`, shape [batch]), because the
structure reader's position depends on which box is queried.

`keep_mask` turns a circuit into the boolean array the evaluators use, [batch, layer, seq, heads], True
exactly at the circuit's nodes. `random_circuit` is the paper's baseline: the same group sizes, heads drawn
uniformly without replacement within each group (from all layer x head pairs, indexed correctly for any
grid, unlike the original code's `//n_layers, %n_heads` which is right only for square grids).
With `outside=True` each group's heads are drawn from the heads that are not circuit nodes at that group's
position. Decision: in LLaMA-7B a uniform draw of 40 of 1024 heads shares ~1.6 heads with the circuit,
so the paper's control is in effect disjoint from it; in a 12-head model the circuit can hold half the
heads at a position and a uniform draw re-selects many of its nodes, so the disjoint draw is the analogue
of the paper's control (both are reported).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from jaxtyping import Bool, Int

Head = tuple[int, int]


@dataclasses.dataclass(frozen=True)
class Circuit:
    """Groups of (layer, head) pairs, each group acting at one position role.

    Attributes:
      groups: group name -> (layer, head) pairs.
      roles: group name -> position role (a key of the `positions` given to `keep_mask`).
    """

    groups: dict[str, tuple[Head, ...]]
    roles: dict[str, str]

    def __post_init__(self):
        missing = set(self.groups) - set(self.roles)
        if missing:
            raise ValueError(f"groups without a role: {sorted(missing)}")

    def nodes(self) -> set[tuple[int, int, str]]:
        """Every (layer, head, role) node; a head in two groups with the same role is one node."""
        return {
            (int(layer), int(head), self.roles[group]) for group, heads in self.groups.items() for layer, head in heads
        }

    def size(self) -> int:
        return len(self.nodes())

    def group(self, name: str) -> Circuit:
        """The circuit made of one group only (e.g. to patch or ablate it alone)."""
        return Circuit({name: self.groups[name]}, {name: self.roles[name]})

    def keep_mask(
        self, positions: dict[str, Int[np.ndarray, " batch"]], layers: int, heads: int, seq: int
    ) -> Bool[np.ndarray, "batch layer seq heads"]:
        """True exactly at each node: head (layer, head) at position `positions[role][b]` of prompt b."""
        batch = len(next(iter(positions.values()))) if positions else 0
        mask = np.zeros((batch, layers, seq, heads), bool)
        rows = np.arange(batch)
        for layer, head, role in self.nodes():
            if not (0 <= layer < layers and 0 <= head < heads):
                raise ValueError(f"node L{layer}H{head} outside a model of {layers} layers x {heads} heads")
            if role not in positions:
                raise ValueError(f"no positions for role {role!r}; given: {sorted(positions)}")
            mask[rows, layer, np.asarray(positions[role]), head] = True
        return mask

    def to_json(self) -> dict:
        return {
            "groups": {name: [list(pair) for pair in heads] for name, heads in self.groups.items()},
            "roles": dict(self.roles),
        }

    @classmethod
    def from_json(cls, data: dict) -> Circuit:
        groups = {
            name: tuple((int(layer), int(head)) for layer, head in heads) for name, heads in data["groups"].items()
        }
        return cls(groups, dict(data["roles"]))


def random_circuit(
    circuit: Circuit, layers: int, heads: int, rng: np.random.Generator | int, outside: bool = False
) -> Circuit:
    """Same groups, roles and group sizes; each group's heads drawn uniformly without replacement.

    `outside`: draw only heads that are not nodes of `circuit` at the group's role (module docstring); a
    group then gets at most as many heads as are left there.
    """
    rng = np.random.default_rng(rng)
    taken = circuit.nodes() if outside else set()
    groups = {}
    for name, members in circuit.groups.items():
        role = circuit.roles[name]
        pool = np.array([i for i in range(layers * heads) if (i // heads, i % heads, role) not in taken], int)
        flat = rng.choice(pool, size=min(len(members), len(pool)), replace=False)
        groups[name] = tuple((int(i) // heads, int(i) % heads) for i in flat)
    return Circuit(groups, dict(circuit.roles))


def all_heads_at(roles: tuple[str, ...] | list[str], layers: int, heads: int) -> Circuit:
    """Every head at each of `roles` (one group per role, named after it): the full model at those positions."""
    every = tuple((layer, head) for layer in range(layers) for head in range(heads))
    return Circuit({role: every for role in roles}, {role: role for role in roles})
