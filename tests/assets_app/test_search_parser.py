"""The catalog query parser: each construct, each error with its position, and properties
(any text → a tree or QueryError; generated valid queries round-trip through ``unparse``)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets_app.search.parser import And, Filter, Not, Or, QueryError, Term, parse, unparse


def test_empty_query_is_none():
    assert parse("") is None
    assert parse("   ") is None


def test_words_and_implicit_and():
    assert parse("cuda memory") == And((Term("cuda"), Term("memory")))


def test_phrase_and_quoted_value():
    assert parse('"CUDA out of memory"') == Term("CUDA out of memory", phrase=True)
    assert parse('name:"my file.csv"') == Filter("name", "my file.csv")
    assert parse(r'"say \"hi\" \\ there"') == Term('say "hi" \\ there', phrase=True)


def test_or_binds_looser_than_and():
    assert parse("a b OR c") == Or((And((Term("a"), Term("b"))), Term("c")))


def test_negation_and_hyphenated_words():
    assert parse("-status:failed") == Not(Filter("status", "failed"))
    assert parse("-(a OR b)") == Not(Or((Term("a"), Term("b"))))
    assert parse("a-b") == Term("a-b")


def test_not_keyword_negates_like_minus():
    assert parse("NOT status:failed") == parse("-status:failed") == Not(Filter("status", "failed"))
    assert parse("cuda NOT (a OR b)") == And((Term("cuda"), Not(Or((Term("a"), Term("b"))))))
    assert parse("NOT NOT a") == Not(Not(Term("a")))
    # Only the upper-case word is an operator, like OR and AND; "not" is a word to search for.
    assert parse("not a") == And((Term("not"), Term("a")))
    assert parse('"NOT"') == Term("NOT", phrase=True)


def test_spec_examples():
    assert parse("kind:error_trace experiment:baseline status:failed") == And(
        (Filter("kind", "error_trace"), Filter("experiment", "baseline"), Filter("status", "failed"))
    )
    assert parse('kind:error_trace "CUDA out of memory" (project:qm9 OR project:md)') == And(
        (
            Filter("kind", "error_trace"),
            Term("CUDA out of memory", phrase=True),
            Or((Filter("project", "qm9"), Filter("project", "md"))),
        )
    )
    assert parse("kind:checkpoint tag:best -status:failed") == And(
        (Filter("kind", "checkpoint"), Filter("tag", "best"), Not(Filter("status", "failed")))
    )


@pytest.mark.parametrize(
    "query",
    [
        "run:12",
        "run:baseline#3",
        "after:2024-01-31",
        "before:2024-01-31T10:00:00",
        "before:2024-01-31T10:00:00+02:00",
        "version:3",
        "sha256:" + "a" * 64,
        "sha256:abc",
        "config_hash:deadbeef",
        "name:*.csv",
        "name:ckpt-??",
        "task:featurize",
        "scope:run",
        "workspace:lab",
        "KIND:LOG",
        "a AND b",
    ],
)
def test_valid_filters(query):
    assert parse(query) is not None


@pytest.mark.parametrize(
    ("query", "position", "token"),
    [
        ("(cuda memory", 0, "("),
        ("cuda memory)", 11, ")"),
        ("a (b (c)", 2, "("),
        ('kind:log "cuda', 9, '"cuda'),
        ('name:"my file', 5, '"my file'),
        ("colour:red", 0, "colour:red"),
        ("a kind:", 2, "kind:"),
        ('name:""', 0, 'name:""'),
        ("kind:bogus", 0, "kind:bogus"),
        ("status:done", 0, "status:done"),
        ("after:2024-13-01", 0, "after:2024-13-01"),
        ("before:yesterday", 0, "before:yesterday"),
        ("version:0", 0, "version:0"),
        ("version:v2", 0, "version:v2"),
        ("sha256:xyz", 0, "sha256:xyz"),
        ("run:baseline", 0, "run:baseline"),
        ("OR a", 0, "OR"),
        ("a OR", 2, "OR"),
        ("a OR OR b", 2, "OR"),
        ("(a OR) b", 3, "OR"),
        ("a -", 2, "-"),
        ("-", 0, "-"),
        ("a - b", 2, "-"),
        ("a NOT", 2, "NOT"),
        ("NOT", 0, "NOT"),
        ("NOT OR a", 0, "NOT"),
        ("(a NOT) b", 3, "NOT"),
        ("()", 0, "()"),
        ('""', 0, '""'),
        ("a\x00b", 1, "\x00"),
    ],
)
def test_errors_point_at_the_token(query, position, token):
    with pytest.raises(QueryError) as info:
        parse(query)
    assert (info.value.position, info.value.token) == (position, token)
    assert f"at position {position}: {token!r}" in info.value.detail


def test_limits_are_query_errors():
    with pytest.raises(QueryError):
        parse("(" * 200 + "a" + ")" * 200)
    with pytest.raises(QueryError):
        parse("-" * 100 + "a")
    with pytest.raises(QueryError):
        parse("x" * 5000)
    with pytest.raises(QueryError):
        parse(" ".join(["w"] * 100))


# --- properties -----------------------------------------------------------------------

_ALPHABET = st.characters(codec="utf-8")
_QUERYISH = st.text(alphabet=st.sampled_from(list('ab kind:log"()-OR\\*?#:name status:failed 2024-01-01')), max_size=60)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(alphabet=_ALPHABET, max_size=80), _QUERYISH))
def test_any_text_gives_a_tree_or_a_query_error(text):
    try:
        tree = parse(text)
    except QueryError as exc:
        assert 0 <= exc.position <= len(text)
        return
    # whatever parses, its canonical text parses to the same tree
    assert parse(unparse(tree)) == tree


_WORD = st.text(alphabet=st.sampled_from(list("abcxyz019_.é")), min_size=1, max_size=8)
_PHRASE_TEXT = st.text(alphabet=st.sampled_from(list('ab "\\()-:é')), min_size=1, max_size=12).filter(
    lambda s: s.strip()
)
_FILTER = st.one_of(
    st.builds(Filter, st.just("kind"), st.sampled_from(["data", "log", "checkpoint", "error_trace"])),
    st.builds(Filter, st.just("status"), st.sampled_from(["failed", "succeeded"])),
    st.builds(Filter, st.sampled_from(["tag", "project", "experiment", "task", "name"]), _PHRASE_TEXT),
    st.builds(Filter, st.just("version"), st.integers(1, 999).map(str)),
    st.builds(Filter, st.just("after"), st.dates().map(lambda d: d.isoformat()).filter(lambda s: len(s) == 10)),
)
_LEAF = st.one_of(
    st.builds(Term, _WORD.filter(lambda w: w not in ("OR", "AND"))),
    st.builds(Term, _PHRASE_TEXT, st.just(True)),
    _FILTER,
)


def _extend(children):
    return st.one_of(
        st.builds(Not, children),
        st.lists(children, min_size=2, max_size=3).map(lambda xs: And(tuple(xs))),
        st.lists(children, min_size=2, max_size=3).map(lambda xs: Or(tuple(xs))),
    )


@settings(max_examples=300)
@given(st.recursive(_LEAF, _extend, max_leaves=12))
def test_generated_queries_round_trip(tree):
    text = unparse(tree)
    parsed = parse(text)
    # And inside And and Or inside Or are written with parentheses, so the tree comes back as is
    assert parsed == tree, text
