"""Learn by building: each project as exercises — stubs with the real signatures, graded by the same
parity checks llmlab's own code passes, plugged into the real pipeline, and the learner's own tracker.

    llmlab learn start transformer      # writes ./llmlab-workspace/transformer/*.py
    llmlab learn check transformer      # ✓ / ✗ per exercise, with the first failing case in words
The catalog of exercises is `llmlab.learn.catalog`; graders live in `llmlab.learn.graders`.
"""
