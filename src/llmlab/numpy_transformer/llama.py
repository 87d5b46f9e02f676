"""`Llama`: the decoder of Llama 2/3, Qwen2/2.5, Qwen3, SmolLM and TinyLlama in NumPy, forward and backward —
token embedding, RMSNorm pre-norm blocks with grouped-query attention, RoPE and SwiGLU, a final RMSNorm and
an LM head (tied or not). There is no position table: positions enter as rotations of q and k (rope.py).

    model = Llama(LlamaConfig(vocab_size=65, n_layer=4, n_head=4, n_kv_head=2, n_embd=128, n_inner=344))
    logits = model(ids); loss = model.forward(ids, targets); model.backward()
    model = Llama.from_pretrained("Qwen3-0.6B-dir", dtype="float64"); model.save_pretrained("out-dir")
It is a `GPT` for everything that is not the body — calling, evaluation, input checks, padding masks,
the KV-cache stepper that `llmlab.generation` drives — so the two train and decode through the same code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from llmlab.errors import LabError
from llmlab.numpy_transformer.embedding import Embedding
from llmlab.numpy_transformer.kv_cache import KVCache
from llmlab.numpy_transformer.llama_block import LlamaBlock
from llmlab.numpy_transformer.loss import IGNORE_INDEX, CrossEntropy
from llmlab.numpy_transformer.masks import attention_bias
from llmlab.numpy_transformer.model import GPT, resolve_dtype
from llmlab.numpy_transformer.module import Module
from llmlab.numpy_transformer.rmsnorm import RMSNorm
from llmlab.numpy_transformer.rope import inverse_frequencies, rope_tables

DECODE_WINDOW = 2048        # positions a decoding cache holds by default (see make_stepper)


@dataclass
class LlamaConfig:
    """GPT-style names (n_embd, n_head, n_positions) for transformers' LlamaConfig / Qwen2Config / Qwen3Config
    fields (hidden_size, num_attention_heads, max_position_embeddings); families.py maps one to the other."""
    vocab_size: int = 32000
    n_positions: int = 2048                     # max_position_embeddings
    n_embd: int = 256                           # hidden_size
    n_layer: int = 4
    n_head: int = 8
    n_kv_head: int | None = None                # None: as many as n_head (plain multi-head attention)
    head_dim: int | None = None                 # None: n_embd // n_head (Qwen3 sets it explicitly)
    n_inner: int = 688                          # intermediate_size of the SwiGLU MLP
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    rope_scaling: dict | None = None            # e.g. Llama 3.1's {"rope_type": "llama3", "factor": 8.0, ...}
    qkv_bias: bool = False                      # Qwen2: biases on q, k and v
    o_bias: bool = False                        # Llama's attention_bias also puts one on o_proj
    qk_norm: bool = False                       # Qwen3: RMSNorm on each query and key head
    tie_word_embeddings: bool = False
    initializer_range: float = 0.02
    family: str = "llama"                       # which transformers class save_pretrained writes
    extra: dict = field(default_factory=dict)   # config.json fields kept for the way back (token ids, ...)

    def __post_init__(self) -> None:
        self.n_kv_head = self.n_kv_head or self.n_head
        if self.head_dim is None and self.n_embd % self.n_head:
            raise LabError(f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}",
                           hint="pick n_head so that each head gets n_embd / n_head features")
        if self.n_head % self.n_kv_head:
            raise LabError(f"n_head={self.n_head} is not a multiple of n_kv_head={self.n_kv_head}",
                           hint="each key/value head serves a group of query heads: n_kv_head divides n_head")
        if self.head_size % 2:
            raise LabError(f"the head size {self.head_size} is odd; RoPE rotates pairs of features",
                           hint="use an even head size")

    @property
    def head_size(self) -> int:
        return self.head_dim or self.n_embd // self.n_head

    def to_dict(self) -> dict:
        return asdict(self)


class Llama(GPT):
    def __init__(self, config: LlamaConfig, dtype="float32", seed: int = 0):
        Module.__init__(self)
        self.config = cfg = config
        self.dtype = resolve_dtype(dtype)
        rng = np.random.default_rng(seed)
        std = cfg.initializer_range
        self.embed_tokens = Embedding(cfg.vocab_size, cfg.n_embd, rng, self.dtype, std)
        self.layers = [LlamaBlock(cfg, rng, self.dtype) for _ in range(cfg.n_layer)]
        self.norm = RMSNorm(cfg.n_embd, cfg.rms_norm_eps, self.dtype)
        self.lm_head = None                       # tied: the head is embed_tokens (Qwen3-0.6B, SmolLM)
        if not cfg.tie_word_embeddings:
            self.lm_head = Module()
            self.lm_head.add_param("weight", (rng.standard_normal((cfg.vocab_size, cfg.n_embd)) * std)
                                   .astype(self.dtype))
        self.inv_freq = inverse_frequencies(cfg.head_size, cfg.rope_theta, cfg.rope_scaling)   # (d/2,)
        self.criterion = CrossEntropy(IGNORE_INDEX)
        self._saved: tuple | None = None

    def forward(self, ids: np.ndarray, targets: np.ndarray | None = None, attention_mask=None,
                position_ids=None, cache: KVCache | None = None):
        """Logits (B, T, V), or — given targets (B, T) — the mean cross-entropy, as `GPT.forward`.
        Positions default to 0.. T-1 after what the cache holds, padded or not, as in transformers."""
        cfg = self.config
        ids = self._check_ids(ids, cache)
        b, t = ids.shape
        past = cache.length if cache is not None else 0
        if position_ids is None:
            position_ids = np.arange(past, past + t)[None, :]                  # (1, T)
        key_mask = self._key_mask(attention_mask, b, t, past, cache)
        bias = attention_bias(t, past + t, key_mask, self.dtype)               # (1 or B, 1, T, Tk)
        cos, sin = rope_tables(np.asarray(position_ids), self.inv_freq, self.dtype)
        cos, sin = cos[:, None], sin[:, None]                                  # (1 or B, 1, T, d): every head
        x = self.embed_tokens.forward(ids)                                     # (B, T, C)
        for i, layer in enumerate(self.layers):
            x = layer.forward(x, bias, cos, sin, cache, i)
        if cache is not None:
            cache.advance(t)
        hidden = self.norm.forward(x).reshape(-1, cfg.n_embd)                 # (N, C)
        logits = hidden @ self._head_weight().T                                # (N, V)
        if targets is None:
            return logits.reshape(b, t, -1)
        targets = np.asarray(targets).reshape(-1)
        if targets.shape[0] != b * t:
            raise LabError(f"targets have {targets.shape[0]} entries for {b}x{t} tokens",
                           hint="give targets the same (B, T) shape as the ids")
        self._saved = (hidden, b, t)
        return self.criterion.forward(logits, targets)

    def backward(self, dloss: float = 1.0) -> None:
        """Gradients of the last `forward(ids, targets)` loss, written into every parameter's `grad`."""
        if self._saved is None:
            raise LabError("backward() needs a forward pass with targets first",
                           hint="call loss = model.forward(ids, targets) and then model.backward()")
        hidden, b, t = self._saved
        dlogits = self.criterion.backward(dloss)                               # (N, V)
        head_grad = (self.embed_tokens if self.lm_head is None else self.lm_head).grads["weight"]
        np.matmul(dlogits.T, hidden, out=head_grad)                            # (V, C): dW = dzᵀ h
        dx = self.norm.backward((dlogits @ self._head_weight()).reshape(b, t, -1))
        for layer in reversed(self.layers):
            dx = layer.backward(dx)
        self.embed_tokens.backward(dx, accumulate=self.lm_head is None)
        self._saved = None

    def make_stepper(self, context: int | None = None):
        """As GPT's, but the cache spans at most DECODE_WINDOW positions unless asked for more: Qwen3's
        40 960 positions would otherwise allocate gigabytes of keys and values before the first token."""
        from llmlab.numpy_transformer.sampling import KVCacheStepper

        return KVCacheStepper(self, context or min(DECODE_WINDOW, self.config.n_positions))

    def _head_weight(self) -> np.ndarray:
        return (self.embed_tokens if self.lm_head is None else self.lm_head).params["weight"]

    # ---- weights, under transformers' names (llama_checkpoint.py does the mapping) -------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        from llmlab.numpy_transformer.llama_checkpoint import to_hf_state

        return to_hf_state(self)

    def state_dict_grads(self) -> dict[str, np.ndarray]:
        from llmlab.numpy_transformer.llama_checkpoint import to_hf_state

        return to_hf_state(self, grads=True)

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        from llmlab.numpy_transformer.llama_checkpoint import load_into

        load_into(self, state)

    @classmethod
    def from_pretrained(cls, directory, dtype="float32") -> Llama:
        from llmlab.numpy_transformer.llama_checkpoint import from_pretrained

        return from_pretrained(directory, dtype)

    def save_pretrained(self, directory) -> None:
        from llmlab.numpy_transformer.llama_checkpoint import save_pretrained

        save_pretrained(self, directory)
