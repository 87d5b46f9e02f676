#!/usr/bin/env bash
# A short real GPT-2 124M run on python-stdlib shards on one GPU, its checkpoint loaded back through
# AutoModelForCausalLM + AutoTokenizer, and the FSDP path of the loop (1 process) with a resume.
# Shards: llmlab tokenizer train --corpus python-stdlib --vocab-size 16384 --out .device/tok16k
#         llmlab data prepare --corpus python-stdlib --tokenizer .device/tok16k --out .device/stdlib16k
set -euo pipefail
DATA=${DATA:-.device/stdlib16k}
OUT=${OUT:-runs/pretrain/gpu}
RUN=${RUN:-/tmp/llmlab-124m}
LLMLAB="python3 -m llmlab.cli"
rm -rf "$RUN" /tmp/llmlab-fsdp
$LLMLAB pretrain train --preset gpt2-124m --data "$DATA" --out "$RUN" --max-time "${MAX_TIME:-100}" \
  --set max_steps=100000 --set batch_size=64 --set grad_accum=1 --set warmup_steps=50 --set decay_by=time \
  --set eval_interval=50 --set eval_iters=6 --set sample_interval=250 --set checkpoint_interval=0 --json \
  > "$OUT/summary_124m.json"
cp "$RUN"/{metrics.jsonl,val_ppl.png,loss.png,samples.jsonl} "$OUT/"
python3 - "$RUN/checkpoint" <<'PY'
import sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
path = sys.argv[1]
tok = AutoTokenizer.from_pretrained(path)
model = AutoModelForCausalLM.from_pretrained(path).cuda().eval()
ids = tok("def parse_args(", return_tensors="pt").input_ids.cuda()
out = model.generate(ids, max_new_tokens=60, do_sample=False)
print("AutoModelForCausalLM + AutoTokenizer generate:", repr(tok.decode(out[0])))
PY
FSDP="accelerate launch --config_file configs/accelerate/fsdp.yaml --num_processes 1 -m llmlab.cli pretrain train"
$FSDP --preset gpt2-tiny --data "$DATA" --out /tmp/llmlab-fsdp --max-steps 20 --set eval_interval=10 --json \
  | python3 -c "import json,sys; s=json.load(sys.stdin); print('fsdp', s['distributed'], s['steps'], s['final_val_loss'])"
$FSDP --preset gpt2-tiny --data "$DATA" --out /tmp/llmlab-fsdp --max-steps 30 --set eval_interval=10 --resume --json \
  | python3 -c "import json,sys; s=json.load(sys.stdin); print('fsdp resume', s['distributed'], s['resumed_from'], s['steps'], s['final_val_loss'])"
