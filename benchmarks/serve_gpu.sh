#!/usr/bin/env bash
# The serving engine's GPU figures (docs/results.md, "Model serving"): GPU tests, then the benchmark at
# GPT-2 124M's shape (random weights, bf16), 64 concurrent requests of 128 in / 128 out, and the 1k-token
# shared-prefix TTFT test. Run from the repository root on a CUDA machine; results go to ${OUT:-runs/serve}.
set -euo pipefail
OUT=${OUT:-runs/serve}
mkdir -p "$OUT"
export PYTHONPATH=src PYTHONUNBUFFERED=1 LLMLAB_NO_PROGRESS=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
python3 -m pytest -q -p no:cacheprovider tests/test_serve_gpu.py 2>&1 | tail -n 15 | tee "$OUT/gpu_tests.txt"
python3 benchmarks/serve.py --preset gpt2-124m --device cuda --dtype bfloat16 --num-prompts 64 \
    --input-len 128 --output-len 128 --hf-single 4 --repeats 3 --prefix-len 992 --suffix-len 16 \
    --prefix-out 4 --prefix-trials 10 --method-timeout 90 --json-out "$OUT/serve_gpu.json" 2>&1 | tee "$OUT/serve_gpu.txt"
# the prefix test again with the Triton kernel for short cached chunks (EngineConfig.triton_max_chunk)
python3 benchmarks/serve.py --preset gpt2-124m --device cuda --dtype bfloat16 --num-prompts 64 \
    --input-len 128 --output-len 128 --repeats 1 --prefix-len 992 --suffix-len 16 --prefix-out 4 --prefix-trials 10 \
    --skip "hf one at a time,hf static batch,hf continuous batching" --engine-set triton_max_chunk=16 \
    --method-timeout 90 --json-out "$OUT/serve_gpu_chunk16.json" 2>&1 | tee "$OUT/serve_gpu_chunk16.txt"
