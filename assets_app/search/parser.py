"""The one query parser of the catalog: the search box and the API ``q`` parameter.

Grammar (implicit AND binds tighter than ``OR``)::

    query   := [or_expr] EOF
    or_expr := and_expr ("OR" and_expr)*
    and_expr:= unary+                      ("AND" between terms is accepted and ignored)
    unary   := ("-" | "NOT") unary | "(" or_expr ")" | term
    term    := WORD | "quoted phrase" | key:value | key:"quoted value"

Keys: ``kind scope workspace project experiment run task tag status name sha256
version after before config_hash alias``. A leading ``-`` directly attached to a term
or a parenthesis negates it, as does the word ``NOT`` (upper case, like ``OR``/``AND``) before a
term; ``-`` inside a word is part of the word. In quotes,
``\\"`` is a quote and ``\\\\`` a backslash.

Invariant: ``parse`` returns a node (or ``None`` for an empty query) or raises
``QueryError`` with the 0-based character ``position`` and the offending
``token``; no other exception escapes for any input (property-tested).
``unparse(parse(s))`` is a canonical query that parses to the same tree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from assets_app.choices import AssetKind, ScopeKind
from runs_app.choices import RunStatus

#: Longest query accepted (characters) and deepest nesting of parentheses/negations.
MAX_QUERY_LENGTH = 1000
MAX_DEPTH = 32
MAX_TERMS = 64

KEYS = (
    "kind", "scope", "workspace", "project", "experiment", "run", "task", "tag", "status", "name",
    "sha256", "version", "after", "before", "config_hash", "alias",
)  # fmt: skip
_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEX_RE = re.compile(r"[0-9a-fA-F]{1,64}")
_RUN_RE = re.compile(r"(?:\d{1,18}|[^#\s]+#\d{1,9})")
_INT_RE = re.compile(r"\d{1,18}")
_SPECIAL = set(' \t\n\r\f\v()"')


class QueryError(ValueError):
    """A malformed query: ``message``, the 0-based ``position`` of the bad ``token``."""

    def __init__(self, message: str, position: int, token: str) -> None:
        self.message = message
        self.position = position
        self.token = token
        super().__init__(self.detail)

    @property
    def detail(self) -> str:
        return f"{self.message} at position {self.position}: {self.token!r}"

    def as_dict(self) -> dict:
        return {"detail": self.detail, "position": self.position, "token": self.token}


# --- the tree -------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """A free word (``phrase=False``) or a quoted phrase, matched against the indexed text."""

    text: str
    phrase: bool = False
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Filter:
    """``key:value``; the value is validated by the parser, interpreted by the compiler."""

    key: str
    value: str
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


Node = Term | Filter | Not | And | Or


# --- value validation (shared with the compiler) ----------------------------------------


def parse_date_value(value: str) -> date | datetime:
    """``YYYY-MM-DD`` → a date; an ISO 8601 date-time → a datetime. ValueError otherwise."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return date.fromisoformat(value)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ][0-9:.+\-Z]+", value):
        raise ValueError(value)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _check_value(key: str, value: str) -> str | None:
    """An error message for a bad value of ``key``, or None."""
    low = value.lower()
    if key == "kind" and low not in AssetKind.values:
        return f"Unknown kind (one of {', '.join(AssetKind.values)})"
    if key == "scope" and low not in ScopeKind.values:
        return f"Unknown scope (one of {', '.join(ScopeKind.values)})"
    if key == "status" and low not in RunStatus.values:
        return f"Unknown run status (one of {', '.join(RunStatus.values)})"
    if key == "version" and not (_INT_RE.fullmatch(value) and int(value) >= 1):
        return "A version is a whole number from 1"
    if key == "sha256" and not _HEX_RE.fullmatch(value):
        return "A sha256 is up to 64 hexadecimal digits"
    if key == "run" and not _RUN_RE.fullmatch(value):
        return "A run is an id or <experiment-slug>#<number>"
    if key in ("after", "before"):
        try:
            parse_date_value(value)
        except (ValueError, OverflowError):
            return "A date is YYYY-MM-DD or an ISO date-time"
    return None


# --- tokens ---------------------------------------------------------------------------


@dataclass
class _Tok:
    kind: str  # LPAREN RPAREN OR AND NOT WORD PHRASE FIELD
    pos: int
    raw: str
    text: str = ""
    key: str = ""


def _read_quoted(s: str, start: int) -> tuple[str, int]:
    """Read a quoted string whose opening quote is at ``start``; return (text, index after it)."""
    out = []
    i = start + 1
    while i < len(s):
        ch = s[i]
        if ch == "\\" and i + 1 < len(s) and s[i + 1] in '"\\':
            out.append(s[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise QueryError("Unterminated quote", start, s[start:][:40])


def _tokenize(s: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(s)
    while i < n:
        ch = s[i]
        if ch.isspace():
            i += 1
        elif ch == "(":
            toks.append(_Tok("LPAREN", i, "("))
            i += 1
        elif ch == ")":
            toks.append(_Tok("RPAREN", i, ")"))
            i += 1
        elif ch == "-" and (i + 1 >= n or s[i + 1].isspace() or s[i + 1] == ")"):
            raise QueryError("Nothing to negate after '-'", i, "-")
        elif ch == "-":
            toks.append(_Tok("NOT", i, "-"))
            i += 1
        elif ch == '"':
            text, j = _read_quoted(s, i)
            if not text.strip():
                raise QueryError("Empty quotes", i, s[i:j])
            toks.append(_Tok("PHRASE", i, s[i:j], text=text))
            i = j
        else:
            j = i
            while j < n and s[j] not in _SPECIAL:
                j += 1
            word = s[i:j]
            key, colon, value = word.partition(":")
            if colon and _KEY_RE.fullmatch(key):
                low = key.lower()
                if low not in KEYS:
                    raise QueryError(f"Unknown filter {key!r} (use one of {', '.join(KEYS)})", i, word)
                raw_end = j
                if value == "" and j < n and s[j] == '"':
                    value, raw_end = _read_quoted(s, j)
                    raw = s[i:raw_end]
                else:
                    raw = word
                if value.strip() == "":
                    raise QueryError(f"Empty value for '{low}:'", i, raw)
                problem = _check_value(low, value)
                if problem:
                    raise QueryError(problem, i, raw)
                toks.append(_Tok("FIELD", i, raw, text=value, key=low))
                i = raw_end
            elif word in ("OR", "AND"):
                toks.append(_Tok(word, i, word))
                i = j
            elif word == "NOT":
                toks.append(_Tok("NOT", i, word))
                i = j
            else:
                toks.append(_Tok("WORD", i, word, text=word))
                i = j
    return toks


# --- the parser -----------------------------------------------------------------------


class _Parser:
    def __init__(self, source: str, toks: list[_Tok]) -> None:
        self.source = source
        self.toks = toks
        self.i = 0
        self.depth = 0
        self.terms = 0

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def error_at_end(self, message: str) -> QueryError:
        return QueryError(message, len(self.source), "")

    def parse(self) -> Node | None:
        if not self.toks:
            return None
        node = self.or_expr()
        tok = self.peek()
        if tok is not None:  # only a stray ")" can stop or_expr early
            raise QueryError("Unbalanced parenthesis: no '(' for this ')'", tok.pos, tok.raw)
        return node

    def or_expr(self) -> Node:
        first = self.peek()
        if first is not None and first.kind == "OR":
            raise QueryError("OR needs a term on its left", first.pos, first.raw)
        parts = [self.and_expr()]
        while (tok := self.peek()) is not None and tok.kind == "OR":
            self.i += 1
            nxt = self.peek()
            if nxt is None or nxt.kind in ("OR", "RPAREN", "AND"):
                raise QueryError("OR needs a term on its right", tok.pos, tok.raw)
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def and_expr(self) -> Node:
        parts: list[Node] = []
        while (tok := self.peek()) is not None and tok.kind not in ("OR", "RPAREN"):
            if tok.kind == "AND":
                self.i += 1
                nxt = self.peek()
                if not parts or nxt is None or nxt.kind in ("OR", "RPAREN", "AND"):
                    raise QueryError("AND needs a term on each side", tok.pos, tok.raw)
                continue
            parts.append(self.unary())
        if not parts:
            tok = self.peek()
            if tok is None:
                raise self.error_at_end("Query ends where a term was expected")
            raise QueryError("A term was expected here", tok.pos, tok.raw)
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def unary(self) -> Node:
        tok = self.peek()
        assert tok is not None
        if tok.kind == "NOT":
            self.i += 1
            nxt = self.peek()
            if nxt is None or nxt.kind in ("OR", "AND", "RPAREN"):
                raise QueryError(f"Nothing to negate after '{tok.raw}'", tok.pos, tok.raw)
            self.enter(tok)
            child = self.unary()
            self.depth -= 1
            return Not(child)
        if tok.kind == "LPAREN":
            self.i += 1
            nxt = self.peek()
            if nxt is None:
                raise QueryError("Unbalanced parenthesis: '(' is never closed", tok.pos, tok.raw)
            if nxt.kind == "RPAREN":
                raise QueryError("Empty parentheses", tok.pos, "()")
            self.enter(tok)
            node = self.or_expr()
            self.depth -= 1
            close = self.peek()
            if close is None or close.kind != "RPAREN":
                raise QueryError("Unbalanced parenthesis: '(' is never closed", tok.pos, tok.raw)
            self.i += 1
            return node
        self.i += 1
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise QueryError(f"Too many terms (at most {MAX_TERMS})", tok.pos, tok.raw)
        if tok.kind == "FIELD":
            return Filter(tok.key, tok.text, pos=tok.pos)
        return Term(tok.text, phrase=tok.kind == "PHRASE", pos=tok.pos)

    def enter(self, tok: _Tok) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QueryError(f"Nested too deeply (at most {MAX_DEPTH} levels)", tok.pos, tok.raw)


def parse(query: str | None) -> Node | None:
    """Parse a catalog query; ``None`` for an empty one. Raises ``QueryError``."""
    if query is None:
        return None
    if not isinstance(query, str):
        raise QueryError("A query is text", 0, "")
    if len(query) > MAX_QUERY_LENGTH:
        raise QueryError(f"Query too long (at most {MAX_QUERY_LENGTH} characters)", MAX_QUERY_LENGTH, "")
    for i, ch in enumerate(query):
        code = ord(ch)
        if (code < 32 and not ch.isspace()) or 0xD800 <= code <= 0xDFFF or code == 0x7F:
            raise QueryError("Invalid character", i, ch)
    return _Parser(query, _tokenize(query)).parse()


# --- back to text ---------------------------------------------------------------------


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _needs_quotes(value: str) -> bool:
    return value == "" or any(ch in _SPECIAL or ch.isspace() or ch == "\\" for ch in value)


def unparse(node: Node | None) -> str:
    """Canonical text of a tree: ``parse(unparse(t)) == t``."""
    if node is None:
        return ""
    if isinstance(node, Term):
        return _quote(node.text) if node.phrase else node.text
    if isinstance(node, Filter):
        return f"{node.key}:{_quote(node.value) if _needs_quotes(node.value) else node.value}"
    if isinstance(node, Not):
        inner = unparse(node.child)
        return f"-({inner})" if isinstance(node.child, (And, Or)) else f"-{inner}"
    if isinstance(node, And):
        return " ".join(f"({unparse(c)})" if isinstance(c, (Or, And)) else unparse(c) for c in node.children)
    if isinstance(node, Or):
        return " OR ".join(f"({unparse(c)})" if isinstance(c, Or) else unparse(c) for c in node.children)
    raise TypeError(node)


def iter_nodes(node: Node | None):
    """Every node of the tree, depth first."""
    if node is None:
        return
    yield node
    if isinstance(node, Not):
        yield from iter_nodes(node.child)
    elif isinstance(node, (And, Or)):
        for child in node.children:
            yield from iter_nodes(child)


def positive_terms(node: Node | None) -> list[Term]:
    """Free words and phrases that are not under a negation (what ranking scores)."""
    out: list[Term] = []

    def walk(n: Node | None, negated: bool) -> None:
        if n is None:
            return
        if isinstance(n, Term):
            if not negated:
                out.append(n)
        elif isinstance(n, Not):
            walk(n.child, not negated)
        elif isinstance(n, (And, Or)):
            for c in n.children:
                walk(c, negated)

    walk(node, False)
    return out
