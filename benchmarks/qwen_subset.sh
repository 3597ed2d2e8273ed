#!/usr/bin/env bash
# The model path's stratified subset: 16 (case, action) pairs covering every action, T 0.2, n 3, with
# `--retrieval none` and with `docprompt`, one model call at a time (the local model uses every core).
#   benchmarks/qwen_subset.sh /path/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf [OUT_PREFIX]
# A run stopped half-way resumes from what it generated when started again with the same OUT_PREFIX.
set -eu
gguf=$1; prefix=${2:-bench-results/qwen-subset}
for retrieval in none docprompt; do
  mlops-lsp bench --strategy llm --model "llama-cpp:$gguf" --retrieval "$retrieval" --temperature 0.2 -n 3 \
    --cases sklearn-tree-regression pytorch-regression-mlp keras-regression git-lfs-basic git-lfs-remote-push \
    --jobs 1 --out "$prefix-$retrieval"
done
