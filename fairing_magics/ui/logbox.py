"""LogBox: a scrolling log for a panel that follows the newest line unless the user scrolled up.

No JavaScript: the box is a flex container in ``column-reverse`` order, whose scroll origin is
its *bottom*. A fresh view (the page reloads, the notebook is reopened, the output is re-rendered
at the run's end) starts at the newest line; while the user stays at the bottom, new lines keep
it there; once they scrolled up, the lines they read stay put, because the old lines are
``HTML`` widgets that are never re-rendered (a finished chunk of ``CHUNK`` lines is frozen into a
widget of its own and only appended to its box: ipywidgets adds a view for it and leaves the
others alone) and the browser's scroll anchoring keeps them in place. Only the last chunk and
the live rows (a progress bar being redrawn) are re-rendered, a few times a second.

Memory stays bounded: at most twice ``max_lines`` lines are shown (the older half of the chunks is
dropped in one go, so views are rebuilt rarely), and a first line says how many earlier lines
are in ``run.logs()``.
"""

from __future__ import annotations

import html
import re

import ipywidgets as widgets

from fairing_magics.ansi import ansi_to_html

CHUNK = 100
_PRE = ('<pre style="margin:0;white-space:pre-wrap;word-break:break-all;font-size:12px;'
        'line-height:1.35;font-family:var(--jp-code-font-family, monospace)">')


def _pre(lines, cls: str = "") -> str:
    if not lines:
        return ""
    body = "\n".join(ansi_to_html(line) for line in lines)
    return (_PRE.replace("<pre ", f'<pre class="{cls}" ') if cls else _PRE) + body + "</pre>"


class LogBox:
    """One replica's log. :meth:`update` (the panel's flusher thread) shows the newest state."""

    def __init__(self, max_lines: int = 1000, height: str = "320px"):
        self.max_lines = max(max_lines, CHUNK)
        self.earlier = widgets.HTML()
        self.chunks = widgets.VBox(layout=widgets.Layout(flex="0 0 auto"))
        self.tail = widgets.HTML()
        inner = widgets.VBox([self.earlier, self.chunks, self.tail],
                             layout=widgets.Layout(flex="0 0 auto"))
        self.widget = widgets.Box([inner], layout=widgets.Layout(
            display="flex", flex_flow="column-reverse", overflow="auto", max_height=height,
            border="1px solid #ddd", padding="2px 4px"))
        self.widget.add_class("fairing-log")
        self._frozen_until = 0  # absolute index of the first line not frozen into a chunk
        self._first_shown = 0  # absolute index of the first line shown

    def update(self, lines, total: int, live: tuple[str, ...] = ()) -> None:
        """``lines``: the last lines kept (a deque), ``total``: lines ever; ``live``: rows being
        redrawn."""
        available_from = total - len(lines)
        if available_from > self._frozen_until:  # lines went by faster than we rendered them
            for chunk in self.chunks.children:
                chunk.close()
            self.chunks.children = ()
            self._frozen_until = self._first_shown = available_from
        limit = 2 * (self.max_lines // CHUNK)
        pending = (total - self._frozen_until) // CHUNK
        if pending > limit // 2:  # more than a screenful came since the last render: skip the rest
            for chunk in self.chunks.children:
                chunk.close()
            self.chunks.children = ()
            self._frozen_until += (pending - limit // 2) * CHUNK
            self._first_shown = self._frozen_until
        new_chunks = []
        while total - self._frozen_until >= CHUNK:
            start = self._frozen_until - available_from
            chunk = [lines[i] for i in range(start, start + CHUNK)]
            new_chunks.append(widgets.HTML(_pre(chunk)))
            self._frozen_until += CHUNK
        if new_chunks:
            children = list(self.chunks.children) + new_chunks
            if len(children) > limit:  # drop the older half at once: views are rebuilt rarely
                dropped = len(children) - limit // 2
                for chunk in children[:dropped]:
                    chunk.close()  # else ipywidgets keeps every widget ever made
                children = children[dropped:]
                self._first_shown += dropped * CHUNK
            self.chunks.children = tuple(children)
        start = self._frozen_until - available_from
        tail = [lines[i] for i in range(max(start, 0), len(lines))]
        value = _pre(tail) + _pre(live, "fairing-live")
        if self.tail.value != value:
            self.tail.value = value
        earlier = self._first_shown if self.chunks.children or tail else 0
        text = (f'<div style="color:#888;font-size:85%">… {earlier} earlier lines: '
                "run.logs() has them all</div>" if earlier else "")
        if self.earlier.value != text:
            self.earlier.value = text

    def text(self) -> str:
        """What the box shows, as text (finished lines, then the live rows)."""
        values = [chunk.value for chunk in self.chunks.children] + [self.tail.value]
        lines = []
        for value in values:
            for pre in re.findall(r"<pre[^>]*>(.*?)</pre>", value, re.S):
                lines.extend(html.unescape(re.sub(r"<[^>]+>", "", pre)).split("\n"))
        return "\n".join(lines)
