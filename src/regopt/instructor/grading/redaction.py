"""Keeping the hidden tests' source out of everything a student receives.

Hidden test code must never reach a feedback page: not through a traceback, not
through the message of an exception the student's own code raised while a hidden
test ran (code that reads the caller's frame or :mod:`linecache` can put the test's
source there), not through a route nobody thought of yet. Every text that goes
into a page, and then the page itself, is read against the hidden source: a line
holding a line of hidden code (compared without whitespace, so re-indenting does
not hide it) is replaced by ``[hidden test code]`` and counted.

Lines the student can see anyway are not secrets: the lab's own text (a hidden
line that also appears in a visible cell) and the student's own code.
"""

from __future__ import annotations

import html
import re

__all__ = ["MARK", "Redactor"]

#: What a redacted line becomes.
MARK = "[hidden test code]"
#: Hidden lines shorter than this (without whitespace) are too common to be a secret: ``)``, ``else:``.
MIN_CHARS = 8
_SPACE = re.compile(r"\s+")


def _squeeze(text: str) -> str:
    return _SPACE.sub("", text)


class Redactor:
    """Replaces lines holding hidden test code; ``count`` says how many it replaced."""

    def __init__(self, hidden_lines: list[str], public_texts: list[str] = ()) -> None:
        public = {_squeeze(line) for text in public_texts for line in text.splitlines()}
        self.fragments = sorted({_squeeze(line) for line in hidden_lines
                                 if len(_squeeze(line)) >= MIN_CHARS} - public, key=len)
        self.count = 0

    def leaks(self, text: str) -> bool:
        squeezed = _squeeze(text)
        return any(fragment in squeezed for fragment in self.fragments)

    def __call__(self, text: str) -> str:
        """``text`` with every line that holds hidden code replaced by :data:`MARK`."""
        if not self.fragments or not self.leaks(text):
            return text
        lines = text.split("\n")
        for i, line in enumerate(lines):
            if self.leaks(line):
                lines[i] = MARK
                self.count += 1
        if self.leaks("\n".join(lines)):  # hidden code spread over lines that are clean one by one
            self.count += 1
            return MARK
        return "\n".join(lines)

    def page(self, page: str) -> str:
        """The last check of an HTML page before it is written (its text read unescaped)."""
        if not self.fragments or not self.leaks(html.unescape(page)):
            return page
        lines = page.split("\n")
        for i, line in enumerate(lines):
            if self.leaks(html.unescape(line)):
                lines[i] = html.escape(MARK)
                self.count += 1
        return "\n".join(lines)
