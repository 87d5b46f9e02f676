"""Roadmap step for the agents bonus: train the tiny agent model, compare it with and without its calculator
on held-out questions, and recall a stored answer in a second run.

quick (about 30 s of the demo's 10 minutes): 1-3 digit operands, 500 steps of training (a fixed count, so the
checks do not depend on the load), 8 questions per digit count; full: the `ToyPreset` defaults (800 steps).
The checks hold the agent to beating the same weights answering directly, the parser to reading every trace
format, and the memory to surviving into a new agent.
"""

from __future__ import annotations

# more tool traces than the default mix and the faster learning rate: the copying the tool path needs must
# appear within 500 steps (lr 1e-2: 83% with the tool at seed 0, 5e-3: 71%)
QUICK = ["max_steps=500", "lr=1e-2", "shares=0.5,0.25,0.25,0", "eval_questions=8", "memory_questions=6"]
# tests: every stage, in seconds
SMOKE = QUICK + ["max_steps=20", "eval_questions=2", "memory_questions=2"]


def run(ctx) -> dict:
    from llmlab.agents.reproduction import reproduce

    s = reproduce(out=ctx.out,
                  overrides=(SMOKE if ctx.smoke else QUICK if ctx.quick else []) + [f"seed={ctx.seed}"],
                  overwrite=True)                        # the roadmap replaces its own run every time
    mem = s["memory"]
    by = ", ".join(f"{r['digits']}d {r['with_tool']:.0%}/{r['direct']:.0%}" for r in s["by_digits"])
    checks = {
        "agent_with_tool_beats_direct": s["with_tool_accuracy"] > s["direct_accuracy"],
        "agent_with_tool_wins_clearly": s["with_tool_accuracy"] >= s["direct_accuracy"] + 0.3,
        "parser_reads_every_trace": s["parser"]["parsed"] == s["parser"]["traces"],
        "memory_recalled_in_a_new_run": mem["second_run_recalled"] == mem["questions"]
        and mem["questions"] > 0,
        "memory_saves_tool_calls": mem["second_run_tool_calls"] < mem["first_run_tool_calls"],
        "pictures_written": all((ctx.out / p).exists() for p in s["pictures"]),
    }
    return {
        "checks": checks,
        "headline": (f"tiny GPT-2 ({s['params']:,} params, {s['steps']} steps, {s['train_seconds']:.0f} s) "
                     f"on held-out "
                     f"sums and differences: agent with calculator {s['with_tool_accuracy']:.0%} vs the same "
                     f"model answering directly "
                     f"{s['direct_accuracy']:.0%} ({by}); memory: "
                     f"{mem['second_run_recalled']}/{mem['questions']} "
                     f"recalled in a new run, {mem['second_run_correct']} answered from it, "
                     f"tool calls {mem['first_run_tool_calls']} -> {mem['second_run_tool_calls']}"),
        "pictures": s["pictures"],
        "model": {"name": "tiny GPT-2 agent trained here", "params": s["params"]},
        **{k: s[k] for k in ("steps", "params", "train_seconds", "eval_seconds", "final_val_loss",
                             "with_tool_accuracy", "direct_accuracy", "by_digits", "agent_parse_errors",
                             "parser", "memory")},
    }
