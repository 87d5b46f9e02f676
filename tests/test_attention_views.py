"""Pictures and the interactive page: files are written, the HTML is self-contained and carries the
capture."""

from __future__ import annotations

import json
import re

import numpy as np

from llmlab.attention.capture import AttentionCapture
from llmlab.attention.html_view import attention_page
from llmlab.attention.metrics import classify_heads, head_metrics, metric_deltas
from llmlab.attention.views import delta_heatmaps, head_view, layer_profile_plot, metric_heatmaps, model_view


def random_capture(t: int = 7, layers: int = 2, heads: int = 3, seed: int = 0) -> AttentionCapture:
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(layers, 1, heads, t, t)) * 2
    scores = np.where(np.triu(np.ones((t, t), dtype=bool), 1), -np.inf, scores)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    tokens = ["<s>", "a", "</script>", " b", "\\n", "c", "d"][:t]
    return AttentionCapture(probs.astype(np.float32), np.arange(t)[None], [tokens], "random")


def test_pictures_are_written(tmp_path):
    cap = random_capture()
    metrics = head_metrics(cap.probs)
    for path in (head_view(cap, tmp_path / "h.png"), model_view(cap, tmp_path / "m.png", token=-1),
                 metric_heatmaps(metrics, tmp_path / "k.png"),
                 delta_heatmaps(metric_deltas(metrics, head_metrics(random_capture(seed=1).probs)),
                                tmp_path / "d.png",
                                "delta"),
                 layer_profile_plot({"a": metrics}, tmp_path / "l.png")):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_html_is_self_contained_and_holds_the_capture():
    cap = random_capture()
    labels = classify_heads(head_metrics(cap.probs))
    page = attention_page(cap, labels)
    assert "http" not in page.lower()                       # no CDN, no fonts, no links out
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", page, flags=re.S)
    # the data and the code; the token '</script>' is escaped
    assert len(scripts) == 2
    data = json.loads(scripts[0].replace("<\\/", "</"))
    assert data["tokens"] == cap.tokens[0]
    np.testing.assert_allclose(np.array(data["probs"]), cap.probs[:, 0], atol=5e-4)
    assert np.array(data["kinds"]).shape == (2, 3)
