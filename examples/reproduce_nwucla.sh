#!/usr/bin/env bash
# NW-UCLA with four streams and late fusion, as the field's best results are made: one encoder
# per stream (joint, bone, joint-motion, bone-motion), each seeded and validated on a part
# carved from the training views; fusion weights fitted on that validation part only; the
# test view (v03) read once at the end. Prints per stream and fused test top-1.
#
# Usage:  examples/reproduce_nwucla.sh [DATA_DIR] [OUT_DIR]
#         (defaults: ../shared/data/nw-ucla/all_sqe and ucla-streams)
#         make reproduce-nwucla
#
# Hours on two CPU cores at the default budget. A smoke run of minutes:
#   EPOCHS=1 TOKENIZE_ARGS="--set min_steps=1" examples/reproduce_nwucla.sh
#
# Knobs (environment variables, defaults in brackets):
#   EPOCHS [80]          encoder epochs per stream
#   STREAMS [joint bone joint-motion bone-motion]   streams to train and fuse (two or more)
#   SEED [0]             seed of every stream's weights, batches, augmentation and validation
#   READOUT [best]       scores of each encoder fused: best (per stream, the read-out with the
#                        best validation top-1), auto, ce, text or probe (sugar ensemble --help)
#   WEIGHTS []           fusion weights, e.g. 1,1,0.5,0.5 (empty: fitted on validation)
#   THREADS []           torch CPU threads (empty: torch's default)
#   TOKENIZE_ARGS []     extra options for every `sugar tokenize`, e.g. "--set frames=32"
set -euo pipefail

DATA=${1:-../shared/data/nw-ucla/all_sqe}
OUT=${2:-ucla-streams}
EPOCHS=${EPOCHS:-80}
SEED=${SEED:-0}
READOUT=${READOUT:-best}
read -r -a STREAM_LIST <<< "${STREAMS:-joint bone joint-motion bone-motion}"
read -r -a TOKENIZE_EXTRA <<< "${TOKENIZE_ARGS:-}"
THREADS_ARG=()
if [[ -n ${THREADS:-} ]]; then THREADS_ARG=(--threads "$THREADS"); fi
WEIGHTS_ARG=()
if [[ -n ${WEIGHTS:-} ]]; then WEIGHTS_ARG=(--weights "$WEIGHTS"); fi

if [[ ! -d $DATA ]]; then
    echo "error: $DATA: no such folder (the NW-UCLA JSON files, e.g. a01_s01_e00_v01.json)" >&2
    exit 1
fi
if (( ${#STREAM_LIST[@]} < 2 )); then
    echo "error: STREAMS names ${#STREAM_LIST[@]} stream; fusion needs two or more" >&2
    exit 1
fi
mkdir -p "$OUT"
say() { printf '\n== %s\n' "$*" >&2; }

say "1. import: every sequence, cross-view split xview (views 1+2 train, view 3 tests)"
sugar data import "$DATA" --format nw-ucla -o "$OUT/ucla.h5"

say "2. priors: the builtin NW-UCLA texts"
sugar priors --classes-from "$OUT/ucla.h5" --backend builtin -o "$OUT/priors.h5"

TOKENS=()
for stream in "${STREAM_LIST[@]}"; do
    say "3. tokenize, stream $stream: $EPOCHS epochs, seed $SEED"
    start=$SECONDS
    sugar tokenize "$OUT/ucla.h5" --priors "$OUT/priors.h5" --split xview --epochs "$EPOCHS" \
        --seed "$SEED" --set "prep.stream=\"$stream\"" ${THREADS_ARG[@]+"${THREADS_ARG[@]}"} \
        ${TOKENIZE_EXTRA[@]+"${TOKENIZE_EXTRA[@]}"} -o "$OUT/tokens-$stream.h5" > /dev/null
    echo "stream $stream: $((SECONDS - start)) s" >&2
    TOKENS+=("$OUT/tokens-$stream.h5")
done

say "4. ensemble: scores of the ${#TOKENS[@]} streams fused (weights: ${WEIGHTS:-fitted on validation})"
sugar ensemble "${TOKENS[@]}" --readout "$READOUT" --priors "$OUT/priors.h5" \
    ${WEIGHTS_ARG[@]+"${WEIGHTS_ARG[@]}"} --json -o "$OUT/fused.h5" > "$OUT/ensemble.json"

say "5. eval: the fused predictions"
sugar eval "$OUT/fused.h5" --json > "$OUT/metrics.json"

say "6. test top-1 (view 3)"
"${PYTHON:-python3}" - "$OUT/ensemble.json" "$OUT/metrics.json" <<'EOF'
import json
import sys
from pathlib import Path

ens = json.loads(Path(sys.argv[1]).read_text())
fused = json.loads(Path(sys.argv[2]).read_text())
val = ens.get("validation") or {}
print("| stream | read-out | weight | validation top-1 | test top-1 |")
print("|---|---|---|---|---|")
per_val = val.get("per_source") or [None] * len(ens["sources"])
for s, w, v in zip(ens["sources"], ens["weights"], per_val):
    name = Path(s["path"]).stem.removeprefix("tokens-")
    vt = "-" if v is None else f"{100 * v:.1f} %"
    print(f"| {name} | {s['readout']} | {w:g} | {vt} | {100 * s['test_top1']:.1f} % |")
vt = f"{100 * val['top1']:.1f} %" if val else "-"
print(f"| fused | {ens['norm']} | - | {vt} | {100 * fused['top1']:.1f} % |")
EOF
echo "$OUT"
