"""LineSplitter: bytes from a program's output in, whole text lines out.

Shared by every backend that reads raw output (the local subprocess's pipe, a container's log
stream): UTF-8 is decoded incrementally, so a character split across two reads stays whole; a
line split across reads waits for its newline; ``\\r\\n`` endings lose the ``\\r``; undecodable
bytes become U+FFFD instead of stopping the stream. The last line, when the program ended without
a newline, comes out of :meth:`LineSplitter.close`.
"""

from __future__ import annotations

import codecs


class LineSplitter:
    """Feed it chunks of bytes; it returns the lines each chunk completed."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""

    def feed(self, data: bytes) -> tuple[str, ...]:
        """The lines ``data`` completed (possibly none), without their line endings."""
        lines = (self._pending + self._decoder.decode(data)).split("\n")
        self._pending = lines.pop()
        return tuple(line[:-1] if line.endswith("\r") else line for line in lines)

    def close(self) -> tuple[str, ...]:
        """The last, unterminated line (if any); the splitter is empty afterwards."""
        rest = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        return (rest,) if rest else ()
