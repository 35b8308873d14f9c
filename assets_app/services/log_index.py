"""What the catalog indexes of a log beyond its tail (SPEC §8, §12: a log is searchable whole).

A log's ``search_text`` holds its last ``SEARCH_TEXT_LIMIT`` characters as text
(phrases match there) followed by the distinct words of everything before them,
in order of first appearance, up to ``LOG_WORDS_LIMIT`` bytes: a word printed
anywhere in a log of any size is found, while the stored text (and PostgreSQL's
tsvector, at most 1 MB) stays bounded. Words are whitespace-separated chunks,
lower-cased, so PostgreSQL's parser and SQLite's FTS5 tokenizer split them the
same way they split the tail. Pure functions: no database, no storage.
"""

from __future__ import annotations

import codecs

#: Bytes of distinct words indexed from the part of a log before its tail.
LOG_WORDS_LIMIT = 256 * 1024
#: Longer chunks (base64, hashes of hashes) are not words anyone searches for.
MAX_WORD = 100


class LogWordIndex:
    """Collects the distinct words of a byte stream fed in pieces (a log's head, before its tail)."""

    def __init__(self, limit: int = LOG_WORDS_LIMIT) -> None:
        self.limit = limit
        self.complete = True  # False once the budget stopped the collection
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._carry = ""
        self._words: dict[str, None] = {}
        self._size = 0

    def feed(self, data: bytes) -> None:
        if not self.complete or not data:
            return
        text = self._carry + self._decoder.decode(data)
        end = len(text)
        while end > 0 and not text[end - 1].isspace():
            end -= 1  # the last chunk may continue in the next piece
        self._carry = text[end:]
        if len(self._carry) > MAX_WORD:
            self._carry = ""
        self._add(text[:end].split())

    def _add(self, chunks: list[str]) -> None:
        words = self._words
        for chunk in chunks:
            if len(chunk) > MAX_WORD:
                continue
            word = chunk.lower()
            if word in words:
                continue
            size = len(word.encode("utf-8")) + 1
            if self._size + size > self.limit:
                self.complete = False
                return
            words[word] = None
            self._size += size

    def text(self) -> str:
        """The distinct words, space-separated (the piece cut at the tail's start included)."""
        if self.complete:
            self._add((self._carry + self._decoder.decode(b"", final=True)).split())
            self._carry = ""
        return " ".join(self._words)
