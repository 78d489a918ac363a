#!/usr/bin/env bash
# The whole sugar pipeline on the built-in synthetic data, one command per stage, chained
# through the files each stage writes (what `sugar demo` does in one process).
#
# Usage:  examples/pipeline_synthetic.sh [OUT_DIR]          (default: synthetic-out)
#
# Knobs (environment variables, defaults in brackets):
#   PER_CLASS [40]       synthetic takes per class (six classes)
#   SEED [0]             data and training seed
#   EPOCHS [20]          encoder epochs (sugar tokenize, and the zero-shot encoder)
#   ALIGN_EPOCHS [2]     alignment epochs (sugar align, and the zero-shot alignment)
#   LLM [smollm2]        smollm2, a model folder or a hub id
#   TEXT_ENCODER [minilm]  embeds the priors
#   UNSEEN [kicking,bowing]  classes held out by the zero-shot step
#   THREADS []           torch CPU threads for every stage (empty: torch's default)
#   TOKENIZE_ARGS, ALIGN_ARGS, ZEROSHOT_ARGS []  extra options for those commands
#   PYTHON [python]      the interpreter sugar is installed in (writes the raw .npz)
set -euo pipefail

OUT=${1:-synthetic-out}
PER_CLASS=${PER_CLASS:-40}
SEED=${SEED:-0}
EPOCHS=${EPOCHS:-20}
ALIGN_EPOCHS=${ALIGN_EPOCHS:-2}
LLM=${LLM:-smollm2}
TEXT_ENCODER=${TEXT_ENCODER:-minilm}
UNSEEN=${UNSEEN:-kicking,bowing}
PYTHON=${PYTHON:-python}
THREADS_ARG=()
if [[ -n ${THREADS:-} ]]; then THREADS_ARG=(--threads "$THREADS"); fi
read -r -a TOKENIZE_EXTRA <<< "${TOKENIZE_ARGS:-}"
read -r -a ALIGN_EXTRA <<< "${ALIGN_ARGS:-}"
read -r -a ZEROSHOT_EXTRA <<< "${ZEROSHOT_ARGS:-}"

mkdir -p "$OUT"
say() { printf '\n== %s\n' "$*" >&2; }

say "1. raw data: the synthetic set written in sugar's numpy format (how any dataset comes in)"
"$PYTHON" - "$OUT/raw.npz" "$PER_CLASS" "$SEED" <<'PY'
import sys

from sugar_core.skeleton.export import write_numpy
from sugar_core.skeleton.synthetic import make_synthetic

path, per_class, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
write_numpy(make_synthetic(n_per_class=per_class, subjects=10, seed=seed), path)
PY
sugar data import "$OUT/raw.npz" --format numpy -o "$OUT/data.h5"
sugar data info "$OUT/data.h5"

say "2. priors: builtin texts for the six classes, embedded"
sugar priors --classes-from "$OUT/data.h5" --backend builtin --text-encoder "$TEXT_ENCODER" \
    -o "$OUT/priors.h5"

say "3. tokenize: train the encoder against the priors on the xsub train part"
sugar tokenize "$OUT/data.h5" --priors "$OUT/priors.h5" --split xsub --epochs "$EPOCHS" \
    --seed "$SEED" ${THREADS_ARG[@]+"${THREADS_ARG[@]}"} ${TOKENIZE_EXTRA[@]+"${TOKENIZE_EXTRA[@]}"} -o "$OUT/tokens.h5"

say "4. align: TQP + LoRA into the frozen LLM; predicts the xsub test part"
sugar align "$OUT/tokens.h5" --priors "$OUT/priors.h5" --llm "$LLM" --epochs "$ALIGN_EPOCHS" \
    --seed "$SEED" ${THREADS_ARG[@]+"${THREADS_ARG[@]}"} ${ALIGN_EXTRA[@]+"${ALIGN_EXTRA[@]}"} -o "$OUT/aligned.h5"

say "5. eval: metrics as JSON, confusion matrix and t-SNE"
sugar eval "$OUT/aligned.h5" --plots "$OUT/plots" --json > "$OUT/metrics.json"

say "6. zero-shot: retrain without $UNSEEN, then name their samples"
echo "$UNSEEN" > "$OUT/unseen.txt"
sugar zeroshot "$OUT/data.h5" --priors "$OUT/priors.h5" --split xsub \
    --unseen-split "$OUT/unseen.txt" --llm "$LLM" --epochs "$EPOCHS" \
    --align-epochs "$ALIGN_EPOCHS" --seed "$SEED" --decode rank ${THREADS_ARG[@]+"${THREADS_ARG[@]}"} \
    ${ZEROSHOT_EXTRA[@]+"${ZEROSHOT_EXTRA[@]}"} --json -o "$OUT/zs.h5" > "$OUT/zs-metrics.json"

say "7. predict: new takes (another seed) as raw files, answered by the aligned model"
"$PYTHON" - "$OUT/new.npz" "$SEED" <<'PY'
import sys

from sugar_core.skeleton.export import write_numpy
from sugar_core.skeleton.synthetic import make_synthetic

new = make_synthetic(n_per_class=2, subjects=2, seed=int(sys.argv[2]) + 1000)
write_numpy(new.subset(list(range(0, len(new), 2))), sys.argv[1])
PY
sugar predict --model "$OUT/aligned.h5" "$OUT/new.npz" ${THREADS_ARG[@]+"${THREADS_ARG[@]}"} --json \
    > "$OUT/answers.json"

say "8. a picture of one sample"
sugar data show "$OUT/data.h5" --sample 0 -o "$OUT/sample.gif"

say "done: files in $OUT"
echo "$OUT"
