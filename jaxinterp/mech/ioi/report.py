"""index.html + numbers.json of the IOI study: each finding beside Wang et al. 2022's GPT-2-small figures.

The paper's heads are "layer.head" of GPT-2 small (12 layers x 12 heads); ours are "layer.head" with the
head index group * query_heads + q (SmolLM2: 30 layers x 3 groups x 3 query heads). Depth is compared as
layer / layers, since the models differ in depth.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import numpy as np

from jaxinterp.mech.heatmaps import heatmap_png
from jaxinterp.mech.study_report import Finding, bar_chart_png, mean_spread, write_report

PAPER_HEADS = {
    "name_mover": ("9.9", "9.6", "10.0"),
    "negative_name_mover": ("10.7", "11.10"),
    "s_inhibition": ("7.3", "7.9", "8.6", "8.10"),
    "induction": ("5.5", "6.9"),
    "duplicate_token": ("0.1", "3.0"),
    "previous_token": ("2.2", "4.11"),
}
PAPER_LAYERS = 12
PAPER_CIRCUIT = "26 of 144 heads (18%), faithfulness 87%"
BAR = {"max_heads_fraction": 0.10, "faithfulness": 0.85, "random": 0.10, "held_out": 0.80}
ROUND_TITLES = {
    "logits": "round 1: senders -> logits (name movers < 0, negative name movers > 0)",
    "name_mover_queries": "round 2: senders -> name movers' queries at END (S-inhibition)",
    "s_inhibition_values": "round 3: senders -> S-inhibition values at S2 (induction, duplicate-token)",
    "induction_keys": "round 4: senders -> induction heads' keys at S1+1 (previous-token)",
}


def _name(head) -> str:
    return f"{head[0]}.{head[1]}"


def _listed(values) -> str:
    return ", ".join(f"{v:.3f}" for v in values)


def _depth(heads, layers: int) -> str:
    if not heads:
        return "-"
    return f"{np.mean([h[0] / layers for h in heads]):.2f}"


# class -> (round, sign of the scores that select it, attention shown beside each head)
CLASS_ROUND = {
    "name_mover": ("logits", -1, None),
    "negative_name_mover": ("logits", +1, None),
    "s_inhibition": ("name_mover_queries", -1, None),
    "induction": ("s_inhibition_values", -1, ("S2->S1+1", "S2->S1")),
    "duplicate_token": ("s_inhibition_values", -1, ("S2->S1", "S2->S1+1")),
    "previous_token": ("induction_keys", -1, ("S1+1->S1",)),
}


def _evidence(name: str, results) -> str:
    """Each seed's selected scores (and attention), or, where none was selected, the round's strongest score
    of the class's sign: the number that shows the class is absent."""
    round_name, sign, attention = CLASS_ROUND[name]
    parts = []
    for r in results:
        scores = r.rounds.scores[round_name]
        heads = r.rounds.classes[name]
        if heads:
            items = []
            for h in heads:
                text = f"{_name(h)} {scores[h]:+.3f}"
                if attention:
                    text += " (" + ", ".join(f"{a} {r.rounds.attention[a][h]:.2f}" for a in attention) + ")"
                items.append(text)
            parts.append(f"seed {r.seed}: " + ", ".join(items))
        elif np.isfinite(scores).any():
            strongest = np.nanmin(scores) if sign < 0 else np.nanmax(scores)
            kind = "negative" if sign < 0 else "positive"
            parts.append(f"seed {r.seed}: none; strongest {kind} score {strongest:+.3f}")
        else:
            parts.append(f"seed {r.seed}: round not run (no receivers)")
    return "scores (relative change of the logit difference): " + "; ".join(parts)


def write(out, cfg, model: str, vocab, shape, heatmap, results, seconds: dict[str, float]) -> Path:
    """Writes the report of `study.run_study` into `out`; returns index.html."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    heads_total = shape.layers * shape.heads
    figures = [
        (
            "activation patching (ABC -> clean) of each head's output, relative change of the logit difference",
            heatmap_png(
                heatmap,
                out / "activation_patching.png",
                row_label="layer",
                col_label="head",
                title="activation patching: head outputs ABC -> clean",
            ),
        )
    ]
    first = results[0].rounds
    for name, title in ROUND_TITLES.items():
        if np.isfinite(first.scores[name]).any():
            png = heatmap_png(
                first.scores[name],
                out / f"round_{name}.png",
                row_label="layer",
                col_label="head",
                title=f"seed {results[0].seed}: {title}",
            )
            figures.append((f"path-patching scores, {title} (grey: not measured)", png))
    bars = {
        f"seed {r.seed}": {
            "faithfulness": (r.discovery["faithfulness"], 0.0),
            "random": (r.discovery["random"]["mean"], r.discovery["random"]["std"]),
            "held-out": (r.held_out["faithfulness"], 0.0),
        }
        for r in results
    }
    figures.append(("faithfulness per seed", bar_chart_png(bars, out / "faithfulness.png", "F(C)/F(M)", 1.2)))

    sizes = [len(r.rounds.heads) for r in results]
    faith = [r.discovery["faithfulness"] for r in results]
    random = [r.discovery["random"]["mean"] for r in results]
    held = [r.held_out["faithfulness"] for r in results]
    full = [r.discovery["full_logit_difference"] for r in results]
    accuracy = [r.discovery["full_accuracy"] for r in results]
    top1 = [r.top1_accuracy for r in results]
    findings = [
        Finding(
            "full model: IO beats S (accuracy)",
            "GPT-2 small solves IOI",
            mean_spread(accuracy),
            None,
            f"top-1 over the whole vocabulary is IO: {mean_spread(top1)}",
        ),
        Finding(
            "full model: logit difference IO - S at END",
            "-",
            mean_spread(full),
            None,
            "issue (transformers, 80 prompts): 4.5",
        ),
        Finding(
            "circuit size",
            PAPER_CIRCUIT,
            f"{mean_spread(sizes)} of {heads_total} heads",
            all(s <= BAR["max_heads_fraction"] * heads_total for s in sizes),
            "bar: at most 10% of the heads",
        ),
        Finding(
            "faithfulness F(C)/F(M), mean ablation over ABC",
            "87%",
            mean_spread(faith),
            float(np.mean(faith)) >= BAR["faithfulness"],
            f"bar: mean >= 0.85; seeds {_listed(faith)}",
        ),
        Finding(
            "random circuits of the same size",
            "-",
            mean_spread(random),
            float(np.mean(random)) <= BAR["random"],
            f"{cfg.random_draws} draws per seed; bar: mean <= 0.10; seeds {_listed(random)}",
        ),
        Finding(
            "the circuit on held-out templates",
            "-",
            mean_spread(held),
            float(np.mean(held)) >= BAR["held_out"],
            f"templates {list(cfg.held_out_templates)}; bar: mean >= 0.80; seeds {_listed(held)}",
        ),
        Finding(
            "every head ablated",
            "-",
            mean_spread([r.discovery["empty_faithfulness"] for r in results]),
            None,
            "F(empty)/F(M)",
        ),
    ]
    for name, paper in PAPER_HEADS.items():
        counts = Counter(_name(h) for r in results for h in r.rounds.classes[name])
        ours = ", ".join(f"{h} ({c}/{len(results)})" for h, c in counts.most_common()) or "none found"
        knock = [r.discovery["knockout_faithfulness"].get(name) for r in results]
        knock = [k for k in knock if k is not None]
        note = f"relative depth: paper {_depth([tuple(map(int, p.split('.'))) for p in paper], PAPER_LAYERS)}, " + (
            f"ours {_depth([h for r in results for h in r.rounds.classes[name]], shape.layers)}"
        )
        if knock:
            note += f"; circuit without this class keeps {mean_spread(knock)}"
        note += "; " + _evidence(name, results)
        everywhere = all(r.rounds.classes[name] for r in results)
        findings.append(Finding(name.replace("_", " ") + " heads", ", ".join(paper), ours, everywhere, note))
    findings.append(
        Finding(
            "backup name movers",
            "present in GPT-2 small (they take over when the name movers are ablated)",
            "not searched",
            None,
            "needs a second round-1 pass with the name movers ablated",
        )
    )
    intro = (
        f"Wang et al. 2022's IOI circuit searched by path patching in {model} ({shape.layers} layers x "
        f"{shape.heads} heads). {len(cfg.seeds)} prompt seeds; discovery on templates "
        f"{list(cfg.discovery_templates)} ({cfg.n_discovery} prompts per template and order), faithfulness on "
        f"fresh prompts of those ({cfg.n_eval} per variant) and on held-out templates ({cfg.n_held_out} per "
        f"variant). Ran {seconds['total']:.0f} s wall, {seconds['cpu']:.0f} s CPU (activation patching "
        f"{seconds['activation_patching']:.0f} s wall)."
    )
    numbers = {
        "config": dataclasses.asdict(cfg),
        "model": model,
        "vocabulary": {"names": len(vocab.names), "places": len(vocab.places), "objects": len(vocab.objects)},
        "heads": {"layers": shape.layers, "per_layer": shape.heads, "total": heads_total},
        "paper": {"heads": PAPER_HEADS, "circuit": PAPER_CIRCUIT},
        "bar": BAR,
        "activation_patching": heatmap,
        "seeds": [
            {
                "seed": r.seed,
                "circuit": [list(h) for h in r.rounds.heads],
                "rounds": r.rounds.to_json(),
                "discovery_templates": r.discovery,
                "held_out_templates": r.held_out,
                "top1_accuracy": r.top1_accuracy,
                "seconds": r.seconds,
            }
            for r in results
        ],
        "summary": {
            "circuit_size": sizes,
            "faithfulness": faith,
            "random": random,
            "held_out": held,
            "full_logit_difference": full,
            "full_accuracy": accuracy,
        },
        "seconds": seconds,
    }
    return write_report(out, "IOI circuit by path patching", intro, findings, figures, numbers)
