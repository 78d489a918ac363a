#!/usr/bin/env bash
# The sugar pipeline on Northwest-UCLA (the CTR-GCN JSON release, folder all_sqe): import,
# priors, encoder, alignment, evaluation with plots, zero-shot and prediction on raw files.
#
# Usage:  examples/pipeline_nw_ucla.sh [DATA_DIR] [OUT_DIR]
#         (defaults: ../shared/data/nw-ucla/all_sqe and ucla-out)
#
# Knobs (environment variables, defaults in brackets):
#   EPOCHS [60]           encoder epochs (tokenize, and the zero-shot encoder)
#   ALIGN_EPOCHS [2]      alignment epochs (align, and the zero-shot alignment)
#   LLM [smollm2]         smollm2, a model folder or a hub id (e.g. meta-llama/Llama-2-7b-hf)
#   UNSEEN [nw-ucla-ru5]  zero-shot split from the registry (sugar zeroshot --list-splits)
#   SEED [0]              training seed
#   THREADS []            torch CPU threads for every stage (empty: torch's default)
#   TOKENIZE_ARGS, ALIGN_ARGS, ZEROSHOT_ARGS []  extra options for those commands
#   (e.g. ALIGN_ARGS="--precision bf16" on GPUs or AMX CPUs)
set -euo pipefail

DATA=${1:-../shared/data/nw-ucla/all_sqe}
OUT=${2:-ucla-out}
EPOCHS=${EPOCHS:-60}
ALIGN_EPOCHS=${ALIGN_EPOCHS:-2}
LLM=${LLM:-smollm2}
UNSEEN=${UNSEEN:-nw-ucla-ru5}
SEED=${SEED:-0}
THREADS_ARG=()
if [[ -n ${THREADS:-} ]]; then THREADS_ARG=(--threads "$THREADS"); fi
read -r -a TOKENIZE_EXTRA <<< "${TOKENIZE_ARGS:-}"
read -r -a ALIGN_EXTRA <<< "${ALIGN_ARGS:-}"
read -r -a ZEROSHOT_EXTRA <<< "${ZEROSHOT_ARGS:-}"

if [[ ! -d $DATA ]]; then
    echo "error: $DATA: no such folder (the NW-UCLA JSON files, e.g. a01_s01_e00_v01.json)" >&2
    exit 1
fi
mkdir -p "$OUT"
say() { printf '\n== %s\n' "$*" >&2; }

say "1. import: every sequence, cross-view split xview (views 1+2 train, view 3 tests)"
sugar data import "$DATA" --format nw-ucla -o "$OUT/ucla.h5"
sugar data info "$OUT/ucla.h5"
sugar data show "$OUT/ucla.h5" --sample 0 -o "$OUT/sample.gif"

say "2. priors: the builtin NW-UCLA texts, embedded by MiniLM"
sugar priors --classes-from "$OUT/ucla.h5" --backend builtin -o "$OUT/priors.h5"

say "3. tokenize: the knowledge-supervised encoder on the xview train part"
sugar tokenize "$OUT/ucla.h5" --priors "$OUT/priors.h5" --split xview --epochs "$EPOCHS" \
    --seed "$SEED" ${THREADS_ARG[@]+"${THREADS_ARG[@]}"} \
    ${TOKENIZE_EXTRA[@]+"${TOKENIZE_EXTRA[@]}"} -o "$OUT/tokens.h5"

say "4. align: TQP + LoRA into the frozen LLM; predicts view 3"
sugar align "$OUT/tokens.h5" --priors "$OUT/priors.h5" --llm "$LLM" --epochs "$ALIGN_EPOCHS" \
    --seed "$SEED" ${THREADS_ARG[@]+"${THREADS_ARG[@]}"} \
    ${ALIGN_EXTRA[@]+"${ALIGN_EXTRA[@]}"} -o "$OUT/aligned.h5"

say "5. eval: metrics, per-class report, confusion matrix and t-SNE"
sugar eval "$OUT/aligned.h5" --plots "$OUT/plots" --json > "$OUT/metrics.json"

say "6. zero-shot ($UNSEEN): seen classes only in training, unseen ones named by the LLM"
sugar zeroshot "$OUT/ucla.h5" --priors "$OUT/priors.h5" --unseen-split "$UNSEEN" \
    --llm "$LLM" --epochs "$EPOCHS" --align-epochs "$ALIGN_EPOCHS" --seed "$SEED" \
    ${THREADS_ARG[@]+"${THREADS_ARG[@]}"} ${ZEROSHOT_EXTRA[@]+"${ZEROSHOT_EXTRA[@]}"} \
    --json -o "$OUT/zs.h5" > "$OUT/zs-metrics.json"

say "7. predict: raw files straight from the data folder (subject 1, view 3, each action)"
RAW=("$DATA"/a??_s01_e00_v03.json)
sugar predict --model "$OUT/aligned.h5" "${RAW[@]}" ${THREADS_ARG[@]+"${THREADS_ARG[@]}"} \
    --json > "$OUT/answers.json"

say "done: files in $OUT"
echo "$OUT"
