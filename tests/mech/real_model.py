"""Where the tests find the real pretrained model, SmolLM2-135M-Instruct.

- `smollm2_gguf()`: the GGUF file `scripts/fetch_smollm2.sh` puts at
  `~/.cache/jaxinterp/SmolLM2-135M-Instruct.Q4_1.gguf` ($JAXINTERP_SMOLLM2_GGUF overrides).
- `smollm2_folder()`: the Hugging Face folder `convert_gguf` makes of it, once per machine and file, cached at
  `~/.cache/jaxinterp/smollm2-<key>/` ($JAXINTERP_SMOLLM2_HF names a ready folder instead). The key hashes the
  file's size and first MiB and `CONVERTER_VERSION` (raise it when the converter's output changes), so a new
  file or converter gets a new folder. pytest-xdist workers may race to make it: each holds a lock file
  while converting, into a temporary folder renamed into place, so a reader never sees half a folder.

Without the file the tests that need it skip, except when $CI is set: then they fail with the command that
fetches it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest

CACHE = Path("~/.cache/jaxinterp").expanduser()
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONVERTER_VERSION = 1


def smollm2_gguf() -> Path:
    """The SmolLM2 GGUF file; skips the test when it is absent (fails under $CI, naming the fetch command)."""
    path = Path(os.environ.get("JAXINTERP_SMOLLM2_GGUF", CACHE / GGUF_NAME)).expanduser()
    if not path.is_file():
        message = f"SmolLM2 GGUF not found at {path}; fetch it with: bash scripts/fetch_smollm2.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def _key(path: Path) -> str:
    digest = hashlib.sha256(f"{path.stat().st_size}:{CONVERTER_VERSION}:".encode())
    with path.open("rb") as file:
        digest.update(file.read(1 << 20))
    return digest.hexdigest()[:12]


def smollm2_folder() -> Path:
    """The HF folder of SmolLM2-135M-Instruct, converted from the GGUF file on first use (see the docstring)."""
    if "JAXINTERP_SMOLLM2_HF" in os.environ:
        folder = Path(os.environ["JAXINTERP_SMOLLM2_HF"]).expanduser()
        if not (folder / "config.json").exists():
            pytest.skip(f"SmolLM2 folder not found at {folder} ($JAXINTERP_SMOLLM2_HF)")
        return folder
    source = smollm2_gguf()
    folder = CACHE / f"smollm2-{_key(source)}"
    if (folder / "config.json").exists():
        return folder
    from jaxinterp.mech.models.convert import convert_gguf

    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one worker converts; the others wait, then find the folder
        if not (folder / "config.json").exists():
            tmp = Path(tempfile.mkdtemp(dir=CACHE, prefix=f".{folder.name}-"))
            try:
                convert_gguf(source, tmp)
                tmp.chmod(0o755)  # mkdtemp makes it private
                os.rename(tmp, folder)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    return folder
