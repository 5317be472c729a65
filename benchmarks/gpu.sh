#!/usr/bin/env bash
# The GPU benchmarks of issue 24, as one script for the short slots a GPU is lent in (≤ 8 minutes on one H100):
# training throughput of GPT-2 124M (tokens/s, MFU against the card's dense bf16 peak) and BERT-base
# (sequences/s), ours beside transformers' GPT2LMHeadModel / BertForPreTraining on the same card, bf16 + SDPA +
# torch.compile + fused AdamW. Results: benchmarks/results/gpu_throughput-cuda-<date>.json and a Markdown table.
#
#   bash benchmarks/gpu.sh                       # from anywhere; uses .venv (make setup) when it exists
#   bash benchmarks/gpu.sh --peak-tflops 756     # another card's dense bf16 peak (default: H100/H200 SXM, 989)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device for torch ' + torch.__version__"
timeout 450 "$PY" benchmarks/gpu_throughput.py --device cuda "$@"
