"""A self-contained interactive attention view: one HTML file, inline CSS and JS, data as JSON, no network.

    write_html(cap, "attention.html", labels=classify_heads(metrics))

Hover (or click to pin) a token: lines show where it looks in the chosen layer's heads (one colour per head,
opacity = weight), and the grid below shows, for every layer and head, the tokens it attends to most.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from llmlab.attention.capture import AttentionCapture

_CSS = """
body{font-family:system-ui,sans-serif;margin:16px;color:#222}
#controls{margin:8px 0}#controls label{margin-right:10px;font-size:13px}
#view{display:flex;align-items:flex-start}
.col{display:flex;flex-direction:column}
.tok{font-family:monospace;font-size:13px;height:20px;line-height:20px;padding:0 6px;white-space:pre;
cursor:pointer;border-radius:3px}
.tok.on{outline:2px solid #333}
#grid{border-collapse:collapse;margin-top:14px;font-size:11px}
#grid td,#grid th{border:1px solid #ddd;padding:3px 5px;vertical-align:top;font-family:monospace}
.kind{color:#777;font-size:10px}
"""

_JS = """
const D = JSON.parse(document.getElementById('data').textContent);
const T = D.tokens.length, L = D.probs.length, H = D.probs[0].length;
const colors = ['#1f77b4','#ff7f0e','#2ca02c','#d62728','#9467bd',
                '#8c564b','#e377c2','#7f7f7f','#bcbd22','#17becf'];
const color = h => colors[h % colors.length];
let layer = 0, pinned = null, shown = new Set([...Array(H).keys()]);
const sel = document.getElementById('layer');
for (let l = 0; l < L; l++) {
  const o = document.createElement('option'); o.value = l; o.textContent = 'layer ' + l; sel.appendChild(o);
}
sel.onchange = () => { layer = +sel.value; draw(pinned); };
const heads = document.getElementById('heads');
for (let h = 0; h < H; h++) {
  const lab = document.createElement('label'); const box = document.createElement('input');
  box.type = 'checkbox'; box.checked = true;
  box.onchange = () => { box.checked ? shown.add(h) : shown.delete(h); draw(pinned); };
  lab.appendChild(box); lab.appendChild(document.createTextNode('head ' + h)); lab.style.color = color(h);
  heads.appendChild(lab);
}
const left = document.getElementById('left'), right = document.getElementById('right');
const canvas = document.getElementById('lines'), ctx = canvas.getContext('2d');
canvas.height = T * 20;
function cell(col, i) {
  const d = document.createElement('div'); d.className = 'tok'; d.textContent = D.tokens[i] || ' ';
  col.appendChild(d); return d;
}
const qs = D.tokens.map((_, i) => cell(left, i)), ks = D.tokens.map((_, i) => cell(right, i));
qs.forEach((d, i) => {
  d.onmouseenter = () => { if (pinned === null) draw(i); };
  d.onclick = () => { pinned = pinned === i ? null : i; draw(i); };
});
left.onmouseleave = () => { if (pinned === null) draw(null); };
function draw(i) {
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  qs.forEach((d, j) => d.classList.toggle('on', j === i));
  ks.forEach(d => d.style.background = '');
  if (i === null) { grid(null); return; }
  const best = new Array(T).fill(0);
  for (const h of shown) {
    const row = D.probs[layer][h][i];
    ctx.strokeStyle = color(h);
    for (let j = 0; j < T; j++) {
      if (row[j] < 0.01) continue;
      ctx.globalAlpha = Math.min(1, row[j]); ctx.lineWidth = 1 + 3 * row[j];
      ctx.beginPath(); ctx.moveTo(0, i * 20 + 10); ctx.lineTo(canvas.width, j * 20 + 10); ctx.stroke();
      best[j] = Math.max(best[j], row[j]);
    }
  }
  ctx.globalAlpha = 1;
  ks.forEach((d, j) => {
    if (best[j] > 0) d.style.background = 'rgba(31,119,180,' + best[j].toFixed(2) + ')';
  });
  grid(i);
}
function grid(i) {
  const g = document.getElementById('grid'); g.innerHTML = '';
  const head = g.insertRow(); head.appendChild(document.createElement('th'));
  for (let h = 0; h < H; h++) {
    const th = document.createElement('th'); th.textContent = 'head ' + h; head.appendChild(th);
  }
  for (let l = 0; l < L; l++) {
    const tr = g.insertRow(); const th = document.createElement('th');
    th.textContent = 'layer ' + l; tr.appendChild(th);
    for (let h = 0; h < H; h++) {
      const td = tr.insertCell(); const kind = D.kinds ? D.kinds[l][h] : '';
      let text = '';
      if (i !== null) {
        const row = D.probs[l][h][i];
        const top = [...row.keys()].sort((a, b) => row[b] - row[a]).slice(0, 3);
        text = top.filter(j => row[j] > 0)
                 .map(j => JSON.stringify(D.tokens[j]) + ' ' + row[j].toFixed(2)).join('\\n');
        td.style.background = 'rgba(31,119,180,' + (0.6 * row[top[0]]).toFixed(2) + ')';
      }
      td.textContent = text; td.style.whiteSpace = 'pre';
      const k = document.createElement('div'); k.className = 'kind'; k.textContent = kind; td.appendChild(k);
      td.title = 'layer ' + l + ', head ' + h + (kind ? ' (' + kind + ')' : '');
      td.onclick = () => { layer = l; sel.value = l; shown = new Set([h]);
        heads.querySelectorAll('input').forEach((b, hh) => b.checked = hh === h); draw(i); };
    }
  }
}
draw(null);
"""


def attention_page(cap: AttentionCapture, labels: np.ndarray | None = None, b: int = 0,
                   title: str = "") -> str:
    """The HTML text. probs are rounded to 3 decimals to keep the file small (gpt2 on 40 tokens: ~1 MB)."""
    data = {"tokens": cap.tokens[b] if cap.tokens else [str(i) for i in cap.ids[b]],
            "probs": np.round(cap.probs[:, b].astype(np.float64), 3).tolist(),
            "kinds": labels.tolist() if labels is not None else None}
    # "</" inside a script would end it early; JSON allows the escaped form
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    heading = html.escape(title or f"attention of {cap.model}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{heading}</title><style>{_CSS}</style>"
            f"</head><body><h2>{heading}</h2><p>Hover a token on the left (click to pin it): lines show "
            f"where it looks in the chosen layer. The grid shows every head's top keys for that token; click "
            f"a "
            f"cell to show that head alone.</p><div id='controls'><select id='layer'></select> "
            f"<span id='heads'></span></div><div id='view'><div id='left' class='col'></div>"
            f"<canvas id='lines' width='160'></canvas><div id='right' class='col'></div></div>"
            f"<table id='grid'></table><script type='application/json' id='data'>{payload}</script>"
            f"<script>{_JS}</script></body></html>")


def write_html(cap: AttentionCapture, path: str | Path, labels: np.ndarray | None = None, b: int = 0,
               title: str = "") -> Path:
    path = Path(path)
    path.write_text(attention_page(cap, labels, b, title), encoding="utf-8")
    return path
