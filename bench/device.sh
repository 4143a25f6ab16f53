#!/usr/bin/env bash
# Every benchmark in bench/ at GPU sizes, in at most ~8 minutes on one H100/H200, in one call:
#
#   bash bench/device.sh                 # GPU run: bench/results/<bench>-<device>.json (+ caw's .md)
#   bash bench/device.sh --dry-run       # every bench at tiny sizes on CPU, into a temporary folder (CI)
#   bash bench/device.sh --only singan,conv --out /tmp/r   # a subset, elsewhere
#
# Each bench runs in its own process under `timeout` (its own limit, clipped to what is left of the total
# budget, DEVICE_BUDGET_S, default 470 s), so one slow or failing bench cannot eat the others' time; the
# script goes on with the next one and exits non-zero at the end if any failed or timed out. Benches that
# are cut off keep what they wrote so far (singan, caw and asapnet rewrite their JSON after every scale or
# size, with "complete": false until the end). Each bench's output also goes to <out>/device-logs/<bench>.log.
#
# The official PyTorch code is timed only where torch imports and a checkout is named by SINGAN_OFFICIAL,
# CAW_OFFICIAL or ASAPNET_OFFICIAL (folders prepared beforehand: the GPU machines have no internet; nothing
# is installed here). The patching bench's hook loop runs when torch and transformers import (on CUDA when
# JAX runs on a GPU), else the bench times jaxinterp alone. Without --dry-run the script refuses to run when
# JAX sees no GPU (unless --out names another folder), so a CPU never overwrites bench/results/*-cpu.json.
# Python: $PYTHON, default `python`.
set -uo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python}
DRY=0
OUT=""
OUT_GIVEN=0
ONLY=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --dry-run) DRY=1 ;;
        --out) OUT="$2"; OUT_GIVEN=1; shift ;;
        --out=*) OUT="${1#--out=}"; OUT_GIVEN=1 ;;
        --only) ONLY="$2"; shift ;;
        --only=*) ONLY="${1#--only=}" ;;
        -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "device.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

if [[ $DRY == 1 ]]; then
    export JAX_PLATFORMS=cpu
    OUT=${OUT:-$(mktemp -d -t bench-dry-run.XXXXXX)}
    BUDGET=${DEVICE_BUDGET_S:-900}
else
    OUT=${OUT:-bench/results}
    BUDGET=${DEVICE_BUDGET_S:-470}
fi
START=$SECONDS

echo "== bench/device.sh $([[ $DRY == 1 ]] && echo '--dry-run (tiny sizes, CPU)' || echo '(GPU sizes)'): out $OUT, budget ${BUDGET} s"
PROBE=$(timeout 120 "$PY" -c 'import jax; print(jax.default_backend()); print("jax", jax.__version__, "devices:", jax.devices())') ||
    { echo "jax does not import" >&2; exit 1; }
BACKEND=${PROBE%%$'\n'*}
echo "${PROBE#*$'\n'}"
if [[ $DRY == 0 && $BACKEND == cpu && $OUT_GIVEN == 0 ]]; then
    # GPU sizes on a CPU would only be cut off by the limits, and would overwrite bench/results/*-cpu.json.
    echo "device.sh: JAX runs on the CPU here; use --dry-run, or name another folder with --out" >&2
    exit 1
fi
mkdir -p "$OUT/device-logs"
command -v nvidia-smi >/dev/null && timeout 30 nvidia-smi -L 2>/dev/null
if timeout 120 "$PY" -c 'import torch' 2>/dev/null; then
    HAVE_TORCH=1
    echo "torch $(timeout 60 "$PY" -c 'import torch; print(torch.__version__, "cuda" if torch.cuda.is_available() else "no cuda")')"
else
    HAVE_TORCH=0
    echo "torch not installed: the official PyTorch code and the hook loop are skipped"
fi

# --official-path for a bench: only with torch, a checkout, and not in a dry run.
official() {  # official <checkout folder or empty>
    if [[ $DRY == 0 && $HAVE_TORCH == 1 && -n "$1" && -d "$1" ]]; then echo "--official-path $1"; fi
}

# name | timeout s (GPU) | GPU arguments | dry-run arguments
QUIET="--wait-quiet 2 --retries 0"
DRY_QUIET="--wait-quiet 0 --retries 0"
BENCHES=(
    "singan|120|--scales 0,4,9 --iters 50 $QUIET $(official "${SINGAN_OFFICIAL:-}") --official-iters 10|--preset tiny --scales 0 --iters 1 $DRY_QUIET"
    "asapnet|100|--repeats 10 --budget-s 10 $QUIET $(official "${ASAPNET_OFFICIAL:-}") --official-repeats 5|--sizes 64x128 --repeats 1 --warmup 0 $DRY_QUIET"
    "caw|70|--scales 0,5,10,-1 --iters 10 --warmup 2 $(official "${CAW_OFFICIAL:-}")|--preset tiny --scales 0 --iters 1 --warmup 0"
    "patching|80|--sizes small,medium --position-buckets 4|--sizes tiny --batch 2 --seq 4 --position-buckets 2"
    "conv|50|--scales 0,9 --repeats 5|--scales 0 --repeats 1"
    "find|40|--numeric 8 --strings 8|--numeric 2 --strings 2"
)

FAILED=()
SUMMARY=()
for entry in "${BENCHES[@]}"; do
    IFS='|' read -r name limit gpu_args dry_args <<<"$entry"
    if [[ -n $ONLY && ",$ONLY," != *",$name,"* ]]; then continue; fi
    if [[ $DRY == 1 ]]; then args=$dry_args; limit=180; else args=$gpu_args; fi
    left=$((BUDGET - (SECONDS - START)))
    if ((left < 15)); then
        echo "== $name: skipped, ${left} s of the ${BUDGET} s budget left"
        FAILED+=("$name")
        SUMMARY+=("$name: skipped (budget)")
        continue
    fi
    ((limit > left)) && limit=$left
    log="$OUT/device-logs/$name.log"
    # shellcheck disable=SC2086  # word splitting of the argument strings is intended
    echo "== $name (limit ${limit} s): $PY bench/$name.py $args --out $OUT"
    t0=$SECONDS
    # shellcheck disable=SC2086
    timeout --kill-after=10 "$limit" "$PY" -u "bench/$name.py" $args --out "$OUT" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    took=$((SECONDS - t0))
    if [[ $rc == 0 ]]; then
        SUMMARY+=("$name: ok in ${took} s")
    else
        [[ $rc == 124 || $rc == 137 ]] && why="timed out after ${took} s" || why="failed (exit $rc) after ${took} s"
        echo "== $name $why; going on with the next bench"
        FAILED+=("$name")
        SUMMARY+=("$name: $why")
    fi
done

echo
echo "== bench/device.sh done in $((SECONDS - START)) s; results in $OUT"
printf '  %s\n' "${SUMMARY[@]}"
if ((${#FAILED[@]})); then
    echo "== failed: ${FAILED[*]} (logs in $OUT/device-logs)" >&2
    exit 1
fi
# A dry run's temporary folder goes once everything passed (a named --out stays).
if [[ $DRY == 1 && $OUT == */bench-dry-run.* && $OUT_GIVEN == 0 ]]; then rm -rf "$OUT"; fi
