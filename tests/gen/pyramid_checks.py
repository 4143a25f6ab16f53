"""Checks shared by the tests of the models on the shared pyramid trainer (SinGAN, CAW)."""

import chex
import pytest

from jaxinterp.gen import pyramid_store


def interrupted_then_resumed(train, out, scale: int = 1, iteration: int = 10) -> None:
    """Runs `train(out, on_chunk=..., resume=...)` with a Ctrl-C at (scale, iteration), checks that the
    finished scales were kept and their folders not rewritten by the resume, and resumes to the end."""

    def interrupt(n, it):
        if (n, it) == (scale, iteration):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(out, on_chunk=interrupt, resume=False)
    assert pyramid_store.finished_scales(out) == scale
    stamp = pyramid_store.scale_dir(out, 0).stat().st_mtime_ns
    train(out, on_chunk=None, resume=True)
    assert pyramid_store.scale_dir(out, 0).stat().st_mtime_ns == stamp  # not retrained


def assert_same_scales(a: list, b: list, atol: float) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        chex.assert_trees_all_close(x, y, atol=atol)
