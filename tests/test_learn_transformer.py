"""Project 1's exercises: llmlab's own code passes each grader, the untouched stub fails it clearly, and
every planted bug (the classic mistakes a learner makes) fails it too — a grader a wrong layer can pass
would be a defect."""


from learn_helpers import contract_tests, grade_text, planted
from llmlab.learn.catalog import project

PROJECT = project("transformer")
NAMES = [ex.name for ex in PROJECT.exercises]

BUGS = {
    "softmax": [
        ("no max subtraction (overflows near 1000)", "    z -= z.max(axis=-1, keepdims=True)\n", ""),
        ("backward forgets the Σ dp p term", '    dp -= np.einsum("...j,...j->...", dp, p)[..., None]\n', ""),
        ("backward right but not in place",
         '    dp -= np.einsum("...j,...j->...", dp, p)[..., None]\n    dp *= p\n    return dp',
         '    return p * (dp - np.einsum("...j,...j->...", dp, p)[..., None])'),
    ],
    "layernorm": [
        ("unbiased variance (divides by C - 1)", 'np.einsum("ij,ij->i", xhat, xhat) / c',
         'np.einsum("ij,ij->i", xhat, xhat) / (c - 1)'),
        ("backward drops the x̂ ⊙ mean(g x̂) term", "        g -= xhat\n", ""),
        ("bias gradient assigned to a new array", 'np.sum(dy2, axis=0, out=self.grads["bias"])',
         'self.grads["bias"] = np.sum(dy2, axis=0)'),
    ],
    "gelu": [
        ("wrong constant 0.0447", "A = 0.044715", "A = 0.0447"),
        ("derivative without tanh' = 1 - t²", "        p *= 1.0 - t\n", ""),
    ],
    "attention": [
        ("causal mask off by one (diagonal hidden)",
         "np.arange(t_k)[None, :] <= np.arange(t_q)[:, None] + offset",
         "np.arange(t_k)[None, :] < np.arange(t_q)[:, None] + offset"),
        ("1/√d scale missing in forward", "        att *= self.scale\n", ""),
        ("1/√d scale missing in backward", "        datt *= self.scale\n", ""),
        ("heads merged without the transpose", "np.matmul(att, v, out=y.transpose(0, 2, 1, 3))",
         "y = np.matmul(att, v).reshape(b, t, self.n_head, self.head_dim)"),
    ],
    "cross_entropy": [
        ("mean over every row, ignored ones too", "/ n) if n else", "/ len(targets)) if n else"),
        ("no max subtraction", "logits -= logits.max(axis=-1, keepdims=True)", "pass"),
        ("ignored rows keep a gradient", "probs[~valid] = 0", "pass"),
    ],
    "adamw": [
        ("bias correction missing", "bc1, bc2 = 1.0 - b1 ** self.t, 1.0 - b2 ** self.t",
         "bc1, bc2 = 1.0, 1.0"),
        ("L2 penalty through the gradient instead of decoupled decay", "p *= 1.0 - lr * self.weight_decay",
         "g = g + self.weight_decay * p"),
        ("biases decayed too", "self.decays = [decay_vectors or p.ndim >= 2",
         "self.decays = [True or p.ndim >= 2"),
    ],
    "kv_cache": [
        ("returns only the new rows", "return self.k[layer, :, :, :end], self.v[layer, :, :, :end]",
         "return k, v"),
        ("values never written", "        self.v[layer, :, :, self.length:end] = v\n", ""),
        ("advances the length itself", "        return self.k[layer, :, :, :end]",
         "        self.length = end\n        return self.k[layer, :, :, :end]"),
    ],
}


# every exercise: two planted bugs or more, llmlab passes, the stub fails clearly, each bug fails
(test_every_exercise_has_at_least_two_planted_bugs, test_llmlabs_own_code_passes,
 test_the_untouched_stub_fails_clearly, test_a_planted_bug_fails) = contract_tests("transformer", BUGS)


def test_a_mismatch_names_the_case_the_error_and_the_tolerance(tmp_path):
    text = planted("transformer", "attention", "        att *= self.scale\n", "")
    message = grade_text(tmp_path, "transformer", "attention", text).message
    assert "CausalSelfAttention.forward" in message and "(2, 5, 12)" in message
    assert "max error" in message and "> tolerance" in message and "expected" in message and "got" in message
