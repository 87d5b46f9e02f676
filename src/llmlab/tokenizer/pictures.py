"""Pictures of a trained BPE tokenizer: the merge tree, vocabulary growth, and text with token boundaries.

    merge_tree(tok, "merge_tree.png")                # the first merges, their counts, what they build
    vocab_growth(tok, sample_text, out_dir)          # bytes/token as merges are added, merge counts, lengths
    write_html(tok, text, "tokens.html")             # self-contained page, one colour per token
    console.print(terminal_text(tok, text))          # the same in a terminal (rich)
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmlab.plots import plot_curves, plot_graph, plot_histogram

# pastel backgrounds that keep black text readable; neighbours always differ
PALETTE = ["#ffd6a5", "#caffbf", "#9bf6ff", "#bdb2ff", "#ffc6ff", "#fdffb6", "#a0c4ff", "#ffadad"]
VISIBLE = {" ": "␣", "\n": "↵", "\t": "→", "\r": "␍"}


def token_label(data: bytes) -> str:
    """How a token reads in a picture: spaces and newlines made visible, broken UTF-8 as \\xNN."""
    text = data.decode("utf-8", errors="backslashreplace")
    return "".join(VISIBLE.get(c, c) for c in text)


def merge_tree(tok: Any, path: str | Path, n_merges: int = 30) -> Path:
    """The first merges as a graph: bytes in column 0, each new token one column right of its deepest
    part, one row per merge in the order learned, coloured by the pair's count when it was merged."""
    merges = tok.merges[:n_merges]
    counts = tok.merge_counts[:n_merges] or [0] * len(merges)
    depth: dict[int, int] = {}
    used_bytes: list[int] = []
    for a, b, new in merges:
        for part in (a, b):
            if part < 256 and part not in depth:
                depth[part] = 0
                used_bytes.append(part)
        depth[new] = max(depth[a], depth[b]) + 1
    nodes: dict[int, tuple[float, float, str, float]] = {}
    spread = max(len(merges) - 1, 1) / max(len(used_bytes) - 1, 1)
    for row, b in enumerate(used_bytes):
        nodes[b] = (0, row * spread, token_label(tok.vocab[b]), 0.0)
    edges = []
    for row, ((a, b, new), count) in enumerate(zip(merges, counts, strict=True)):
        nodes[new] = (depth[new], row, f"{token_label(tok.vocab[new])}  {count:,}", float(count))
        edges += [(a, new), (b, new)]
    return plot_graph(nodes, edges, path, value_label="pair count when merged",
                      xlabel="depth (0 = bytes; one row per merge, first merge on top)",
                      title=f"the first {len(merges)} merges")


def bytes_per_token_curve(tok: Any, text: str, points: int = 10) -> list[tuple[int, float]]:
    """(vocab size, UTF-8 bytes per token of `text`) for tokenizers cut after the first k merges."""
    from llmlab.tokenizer.bpe import BPETokenizer

    n_bytes = len(text.encode("utf-8"))
    total = len(tok.merges)
    ks = sorted({0, total, *(round(total * (i / (points - 1)) ** 2) for i in range(points))})
    curve = []
    for k in ks:
        cut = BPETokenizer(tok.merges[:k], tok.pattern)
        curve.append((len(cut.vocab), n_bytes / max(len(cut.encode_ordinary(text)), 1)))
    return curve


def vocab_growth(tok: Any, text: str, out_dir: str | Path) -> dict[str, Any]:
    """Three PNGs: bytes_per_token.png, merge_counts.png, token_lengths.png; returns the curve's numbers."""
    out_dir = Path(out_dir)
    curve = bytes_per_token_curve(tok, text)
    plot_curves({"held-out text": ([v for v, _ in curve], [c for _, c in curve])},
                out_dir / "bytes_per_token.png", title="compression as the vocabulary grows",
                xlabel="vocabulary size (256 bytes + merges)", ylabel="UTF-8 bytes per token")
    counts = tok.merge_counts
    if counts:
        plot_curves({"count": (list(range(1, len(counts) + 1)), counts)}, out_dir / "merge_counts.png",
                    title="how often each merged pair occurred", xlabel="merge number",
                    ylabel="pair count when merged", logy=True)
    lengths = [len(data) for data in tok.vocab[256:]]
    plot_histogram(lengths, out_dir / "token_lengths.png", title="learned tokens by length",
                   xlabel="bytes in the token", ylabel="tokens", bins=range(1, max(lengths, default=1) + 2))
    return {"bytes_per_token_by_vocab": [[v, round(c, 4)] for v, c in curve]}


def token_pieces(tok: Any, ids: Sequence[int]) -> list[tuple[str, list[int]]]:
    """Ids grouped into displayable pieces: one token each, except tokens that split a character,
    which are grouped until the bytes decode (they are drawn with a dashed outline)."""
    pieces, pending, buffer = [], [], b""
    for token_id in ids:
        pending.append(token_id)
        buffer += tok.token_bytes(token_id)
        try:
            text = buffer.decode("utf-8")
        except UnicodeDecodeError:
            if len(pending) < 8:
                continue
            text = buffer.decode("utf-8", errors="replace")
        pieces.append((text, pending))
        pending, buffer = [], b""
    if pending:
        pieces.append((buffer.decode("utf-8", errors="replace"), pending))
    return pieces


def _visible(text: str) -> str:
    return html.escape(text).replace("\n", '<span class="nl">↵</span>\n').replace("\t", "→\t")


def render_html(tok: Any, text: str, title: str = "tokens") -> str:
    ids = tok.encode(text, allowed_special="all")
    spans = []
    for k, (piece, piece_ids) in enumerate(token_pieces(tok, ids)):
        tip = " ".join(f"{i}:{tok.token_bytes(i)!r}" for i in piece_ids)
        split = " split" if len(piece_ids) > 1 else ""
        spans.append(f'<span class="t c{k % len(PALETTE)}{split}" '
                     f'title="{html.escape(tip)}">{_visible(piece)}</span>')
    n_bytes = len(text.encode("utf-8"))
    colours = "".join(f".c{i}{{background:{c}}}" for i, c in enumerate(PALETTE))
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}}
.text{{font-family:ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;line-height:1.9;font-size:14px}}
.t{{border-radius:3px;padding:1px 0}} .split{{outline:1px dashed #c00}} .nl{{color:#888}}
{colours}
</style></head><body>
<h2>{html.escape(title)}</h2>
<p>{len(text):,} characters, {n_bytes:,} bytes, <b>{len(ids):,} tokens</b>
({n_bytes / max(len(ids), 1):.2f} bytes per token); vocabulary {tok.vocab_size:,},
pattern {html.escape(tok.pattern_name)}.
Each coloured box is one token; hover for its id and bytes. A dashed box holds several tokens that
split one character's UTF-8 bytes; ↵ marks a newline.</p>
<div class="text">{"".join(spans)}</div>
</body></html>
"""


def write_html(tok: Any, text: str, path: str | Path, title: str = "tokens") -> Path:
    path = Path(path)
    path.write_text(render_html(tok, text, title), encoding="utf-8")
    return path


def terminal_text(tok: Any, text: str) -> Any:
    """A rich `Text` with one background colour per token (print it with llmlab.console.console)."""
    from rich.text import Text

    out = Text()
    ids = tok.encode(text, allowed_special="all")
    for k, (piece, piece_ids) in enumerate(token_pieces(tok, ids)):
        style = f"black on {PALETTE[k % len(PALETTE)]}" + (" underline" if len(piece_ids) > 1 else "")
        out.append(piece.replace("\n", "↵\n"), style=style)
    return out
