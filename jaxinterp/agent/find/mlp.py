"""MLP approximations of FIND numeric functions, many trained at once.

FIND's 150 MLP functions are 1 -> 64 -> ReLU -> 1 MLPs fitted to a sampled function on 10k points of its domain
(reference §2.1); the interpreter is told "f(x) is implemented by an MLP". Here all of them train in one jitted,
`vmap`-ed call: inputs are scaled to [-1, 1] and targets standardised per function, Adam with cosine decay,
minibatches of 1024 of the 10k points. The weights are returned as plain floats so the function's `code` can
carry them and run the forward pass in pure Python (float64) without JAX. Gradient steps place the ReLU kinks and
the output layer is then solved by least squares (see `_refit_output`).

Reproducibility: a generated function is reproducible from its `code` (the weights are in it). Regenerating from
the seed gives the same weights on the same platform and JAX version (tested); float32 training on another
backend or version may differ in the last bits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float

HIDDEN = 64  # reference §2.1: 1 -> 64 -> ReLU -> 1
N_POINTS = 10_000  # points the MLP is fitted on
BATCH = 1024
LEARNING_RATE = 1e-2
W1_INIT_STD = 5.0  # steep ReLUs from the start, so steps and sharp tanh need no long training


class MLP(nn.Module):
    """1 -> HIDDEN -> ReLU -> 1, the hidden layer written as relu(w1 (u - kink)).

    Parameterising the first layer by its kink positions (initialised uniform on [-1, 1], the scaled domain) and
    not by a bias spreads the ReLU breakpoints over the whole domain from the start, which is what lets a small
    budget of steps fit steps and sharp tanh; the exported bias is b1 = -w1 * kink.
    """

    hidden: int = HIDDEN

    @nn.compact
    def __call__(self, u: Float[Array, "n 1"]) -> Float[Array, "n 1"]:
        w1 = self.param("w1", nn.initializers.normal(W1_INIT_STD), (self.hidden,))
        kink = self.param("kink", _uniform, (self.hidden,))
        h = nn.relu(w1 * (u - kink))
        return nn.Dense(1)(h)


def _uniform(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -1.0, 1.0)


def _train(keys, u: Float[Array, "f n"], y: Float[Array, "f n"], steps: int):
    model = MLP()
    opt = optax.adam(optax.cosine_decay_schedule(LEARNING_RATE, steps, alpha=0.01))
    params = jax.vmap(lambda k: model.init(k, u[0, :1, None]))(keys)
    opt_state = jax.vmap(opt.init)(params)

    def loss_fn(p, ub, yb):
        return jnp.mean((model.apply(p, ub[:, None])[:, 0] - yb) ** 2)

    def one(p, s, ub, yb):
        loss, g = jax.value_and_grad(loss_fn)(p, ub, yb)
        updates, s = opt.update(g, s, p)
        return optax.apply_updates(p, updates), s, loss

    def step(carry, i):
        p, s = carry
        idx = jax.random.randint(jax.random.fold_in(jax.random.key(0), i), (BATCH,), 0, u.shape[1])
        p, s, loss = jax.vmap(one)(p, s, u[:, idx], y[:, idx])
        return (p, s), loss

    (params, _), losses = jax.lax.scan(step, (params, opt_state), jnp.arange(steps))
    return params, losses[-1]


_train_jit = jax.jit(_train, static_argnums=3)


def fit_mlps(
    targets: Sequence[Callable[[float], float]], domains: Sequence[Sequence[float]], seed: int = 0, steps: int = 300
) -> list[dict]:
    """Fits one MLP per target on its domain, all in one batched jit call.

    Returns per target {"x_center", "x_scale", "y_mean", "y_std", "w1", "b1", "w2", "b2", "fit_rel_mse"}:
    f(x) = (b2 + sum_j w2_j relu(w1_j u + b1_j)) * y_std + y_mean with u = (x - x_center) / x_scale.
    """
    rng = np.random.default_rng([seed, 0x4D4C50])
    us, ys, norms = [], [], []
    for target, (lo, hi) in zip(targets, domains, strict=True):
        x = rng.uniform(lo, hi, N_POINTS)
        y = np.array([target(float(v)) for v in x])
        y = np.where(np.isfinite(y), y, 0.0)
        center, scale = (lo + hi) / 2, (hi - lo) / 2
        mean, std = float(y.mean()), float(y.std()) or 1.0
        us.append((x - center) / scale)
        ys.append((y - mean) / std)
        norms.append((center, scale, mean, std))
    keys = jax.random.split(jax.random.key(seed), len(targets))
    params, _ = _train_jit(keys, jnp.asarray(np.stack(us), jnp.float32), jnp.asarray(np.stack(ys), jnp.float32), steps)
    params = jax.tree.map(lambda a: np.asarray(a, np.float64), params)["params"]
    out = []
    for i, (center, scale, mean, std) in enumerate(norms):
        w1, b1 = params["w1"][i], -params["w1"][i] * params["kink"][i]
        w2, b2 = _refit_output(w1, b1, us[i], ys[i])
        fit = np.maximum(0.0, us[i][:, None] * w1 + b1) @ w2 + b2
        out.append(
            {
                "x_center": float(center),
                "x_scale": float(scale),
                "y_mean": mean,
                "y_std": std,
                "w1": [float(v) for v in w1],
                "b1": [float(v) for v in b1],
                "w2": [float(v) for v in w2],
                "b2": float(b2),
                # MSE on the 10k fitting points over the target's variance (the release's `approx_mse_error`
                # is the unnormalised MSE)
                "fit_rel_mse": float(np.mean((fit - ys[i]) ** 2)),
            }
        )
    return out


def _refit_output(w1: np.ndarray, b1: np.ndarray, u: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares output layer on the trained hidden features (float64).

    Gradient steps place the kinks; the last layer is linear in the features, so solving for it exactly removes
    the slow final convergence of Adam (a step target otherwise keeps a ramp ~30 units wide after 400 steps).
    """
    feats = np.concatenate([np.maximum(0.0, u[:, None] * w1 + b1), np.ones((u.size, 1))], axis=1)
    gram = feats.T @ feats + 1e-6 * np.eye(feats.shape[1])
    sol = np.linalg.solve(gram, feats.T @ y)
    return sol[:-1], float(sol[-1])
