"""Issue 21: the evaluators are linear, shown by work counts (not times): the wildcard matcher examines at most a
fixed multiple of the text and pattern it is given, and doubling either doubles the work at most; filter chains
and nesting cost no recursion per term. The matcher agrees with a reference (``fnmatch``) on generated input."""

from __future__ import annotations

import fnmatch
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hybridsoa.mock.domain import bounds
from hybridsoa.mock.domain.entra.graph.odata import FilterSyntaxError, evaluate, parse_filter
from hybridsoa.mock.domain.errors import InvalidArgument
from hybridsoa.mock.domain.exchange.opath import compile_filter
from hybridsoa.mock.domain.wildcard import compile_wildcard


def work(pattern: str, text: str) -> tuple[bool, int]:
    """(matched, text positions examined)."""
    counter = [0]
    return compile_wildcard(pattern).match(text, counter), counter[0]


@pytest.mark.parametrize(
    "make_pattern, make_text",
    [
        (lambda n: "*" * n + "#", lambda n: "a" * n),  # the pattern: stars then a missing char
        (lambda n: "a*" * n + "#", lambda n: "a" * (2 * n)),  # many segments that each match at once
        (lambda n: "*" + "?" * 3 + "*b", lambda n: "a" * n),  # '?' holes scanned along the whole text
        (lambda n: "*ab*ab*ab*c", lambda n: "ab" * n),  # the classic backtracking trap
    ],
)
def test_wildcard_work_grows_linearly(make_pattern, make_text):
    for n in (1000, 4000):
        _, small = work(make_pattern(n), make_text(n))
        _, double = work(make_pattern(2 * n), make_text(2 * n))
        assert double <= 2 * small + 16, (n, small, double)
        pattern, text = make_pattern(n), make_text(n)
        assert small <= 4 * (len(text) + len(pattern)), (n, small)


def test_ten_thousand_stars_are_one_pass():
    matched, steps = work("*" * 10_000 + "#", "x" * 64)
    assert not matched and steps <= 64 + 1
    matched, steps = work("*" * 10_000, "x" * 64)
    assert matched


WILD_TEXT = st.text(alphabet="ab*?", max_size=12)
PLAIN_TEXT = st.text(alphabet="ab?*", max_size=14)


@settings(max_examples=400, derandomize=True, database=None, deadline=None)
@given(pattern=WILD_TEXT, text=st.text(alphabet="ab", max_size=14))
def test_wildcard_agrees_with_fnmatch(pattern, text):
    assert compile_wildcard(pattern).match(text) == fnmatch.fnmatchcase(text, pattern)


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(pattern=WILD_TEXT, text=PLAIN_TEXT)
def test_star_only_wildcard_treats_question_marks_literally(pattern, text):
    reference = re.fullmatch(".*".join(re.escape(p) for p in pattern.split("*")), text, re.DOTALL) is not None
    assert compile_wildcard(pattern, question_mark=False).match(text) == reference


def _property_reads(predicate, obj: dict) -> int:
    """How many times ``predicate`` looks a property up in ``obj``."""
    reads = []

    class Counting(dict):
        def __contains__(self, key):
            reads.append(key)
            return super().__contains__(key)

    predicate(Counting(obj))
    return len(reads)


def test_opath_chain_of_ten_thousand_terms_is_flat_and_its_equalities_one_lookup():
    chain = " -or ".join(f"Alias -eq 'a{i}'" for i in range(10_000))
    predicate = compile_filter(chain, {"Alias"})
    assert predicate({"Alias": "A9999"}) and not predicate({"Alias": "b"})
    # Equality terms collapse into a set lookup: one read of the property per object, whatever the chain length.
    assert _property_reads(predicate, {"Alias": "zz"}) == 1
    mixed = " -and ".join(f"Alias -like '*{i}*'" for i in range(10_000))
    assert compile_filter(mixed, {"Alias"})({"Alias": "x"}) is False


def test_opath_nesting_is_bounded():
    ok = "(" * bounds.MAX_FILTER_DEPTH + "Alias -eq 'a'" + ")" * bounds.MAX_FILTER_DEPTH
    assert compile_filter(ok, {"Alias"})({"Alias": "a"})
    for deep in (
        "(" * (bounds.MAX_FILTER_DEPTH + 1) + "Alias -eq 'a'" + ")" * (bounds.MAX_FILTER_DEPTH + 1),
        "-not " * 10_000 + "Alias -eq 'a'",
        "(" * 100_000,
    ):
        with pytest.raises(InvalidArgument, match="Invalid filter syntax"):
            compile_filter(deep, {"Alias"})


def test_opath_merged_equalities_answer_like_single_terms():
    objects = [
        {"Alias": "a1"},
        {"Alias": ["x", "A2"]},
        {"Alias": None},
        {"Alias": "smtp:a3"},
        {"Alias": True},
        {"Alias": "b"},
    ]
    values = ["a1", "a2", "a3", "$true", "smtp:b"]
    for obj in objects:
        one_by_one = any(
            compile_filter(f"Alias -eq {v if v.startswith('$') else repr(v)}", {"Alias"})(obj) for v in values
        )
        chained = compile_filter(
            " -or ".join(f"Alias -eq {v if v.startswith('$') else repr(v)}" for v in values), {"Alias"}
        )(obj)
        assert chained == one_by_one, obj


def test_odata_chain_of_ten_thousand_terms_is_flat():
    chain = " or ".join(f"displayName eq 'u{i}'" for i in range(10_000))
    ast, info = parse_filter(chain)
    assert info.max_or_clauses == 10_000
    assert evaluate(ast, {"displayName": "U9999"}) and not evaluate(ast, {"displayName": "x"})
    both = " and ".join(f"startswith(displayName, 'u{i % 3}')" for i in range(10_000))
    assert evaluate(parse_filter(both)[0], {"displayName": "u1"}) is False


def test_odata_nesting_is_bounded():
    ok = "(" * bounds.MAX_FILTER_DEPTH + "displayName eq 'a'" + ")" * bounds.MAX_FILTER_DEPTH
    assert evaluate(parse_filter(ok)[0], {"displayName": "a"})
    for deep in (
        "(" * (bounds.MAX_FILTER_DEPTH + 1) + "displayName eq 'a'" + ")" * (bounds.MAX_FILTER_DEPTH + 1),
        "not " * 10_000 + "accountEnabled eq true",
        "(" * 100_000,
        "a/any(x:" * 200 + "x eq 1" + ")" * 200,
    ):
        with pytest.raises(FilterSyntaxError, match="Invalid filter clause: Syntax error at position"):
            parse_filter(deep)


def test_odata_merged_equalities_answer_like_single_terms():
    objects = [
        {"displayName": "A"},
        {"displayName": 1},
        {"displayName": True},
        {"displayName": None},
        {},
        {"displayName": ["a"]},
    ]
    literals = ["'a'", "1", "true", "null", "'b'"]
    for obj in objects:
        one_by_one = any(evaluate(parse_filter(f"displayName eq {lit}")[0], obj) for lit in literals)
        chained = evaluate(parse_filter(" or ".join(f"displayName eq {lit}" for lit in literals))[0], obj)
        assert chained == one_by_one, obj


def test_the_cheap_mailbox_view_agrees_with_the_whole_object(domain_tenant):
    from hybridsoa.mock.domain.exchange.objects import _CHEAP_MAILBOX_PROPERTIES, mailbox_filter_view, mailbox_object

    view = mailbox_filter_view(sorted(_CHEAP_MAILBOX_PROPERTIES))
    assert mailbox_filter_view(["Name", "Database"]) is None
    mailboxes = list(domain_tenant.mailboxes)
    assert len(mailboxes) >= 20
    for mbx in mailboxes:
        whole = mailbox_object(domain_tenant, mbx)
        assert view(mbx) == {name: whole[name] for name in _CHEAP_MAILBOX_PROPERTIES}, mbx.alias


LIKE_PATTERNS = st.text(alphabet="ab*?", max_size=5)
LIKE_VALUES = st.one_of(st.none(), st.text(alphabet="abAB", max_size=6), st.lists(st.text(alphabet="ab", max_size=4)))


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(patterns=st.lists(LIKE_PATTERNS, min_size=2, max_size=6), value=LIKE_VALUES)
def test_opath_merged_likes_answer_like_single_terms(patterns, value):
    obj = {"Alias": value}
    quoted = [f"'{p}'" for p in patterns]
    one_by_one = any(compile_filter(f"Alias -like {q}", {"Alias"})(obj) for q in quoted)
    assert compile_filter(" -or ".join(f"Alias -like {q}" for q in quoted), {"Alias"})(obj) == one_by_one
    none_like = all(compile_filter(f"Alias -notlike {q}", {"Alias"})(obj) for q in quoted)
    assert compile_filter(" -and ".join(f"Alias -notlike {q}" for q in quoted), {"Alias"})(obj) == none_like
    differs = all(compile_filter(f"Alias -ne {q}", {"Alias"})(obj) for q in quoted)
    assert compile_filter(" -and ".join(f"Alias -ne {q}" for q in quoted), {"Alias"})(obj) == differs


def test_opath_like_chain_of_ten_thousand_terms_reads_each_value_once():
    chain = " -or ".join(f"Alias -like '*k{i}*'" for i in range(10_000))
    predicate = compile_filter(chain, {"Alias"})
    assert predicate({"Alias": "xxK9999yy"}) and not predicate({"Alias": "zz"})
    assert _property_reads(predicate, {"Alias": "zz"}) == 1  # one merged test, not one per term
    unlikes = " -and ".join(f"Alias -notlike 'k{i}*'" for i in range(10_000))
    unlike = compile_filter(unlikes, {"Alias"})
    assert unlike({"Alias": "zz"}) and _property_reads(unlike, {"Alias": "zz"}) == 1


ODATA_TERMS = st.sampled_from(
    [
        "startswith(displayName, 'a')",
        "startswith(displayName, 'ab')",
        "endswith(displayName, 'b')",
        "contains(displayName, 'ba')",
        "contains(displayName, '')",
        "startswith(mail, 'a')",
        "displayName eq 'ab'",
        "displayName ne 'ab'",
        "displayName ne 'b'",
        "displayName ne null",
        "mail ne 'a'",
        "accountEnabled eq true",
    ]
)
ODATA_VALUES = st.one_of(st.none(), st.text(alphabet="abAB", max_size=5), st.integers(0, 2), st.booleans())


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(terms=st.lists(ODATA_TERMS, min_size=2, max_size=6), name=ODATA_VALUES, mail=ODATA_VALUES)
def test_odata_merged_affixes_and_inequalities_answer_like_single_terms(terms, name, mail):
    obj = {"displayName": name, "mail": mail, "accountEnabled": True}
    singles = [evaluate(parse_filter(term)[0], obj) for term in terms]
    assert evaluate(parse_filter(" or ".join(terms))[0], obj) == any(singles), terms
    assert evaluate(parse_filter(" and ".join(terms))[0], obj) == all(singles), terms


def test_odata_affix_chain_of_ten_thousand_terms_is_one_node():
    chain = " or ".join(f"startswith(displayName, 'u{i}')" for i in range(10_000))
    ast, _ = parse_filter(chain)
    assert ast[0] == "affix" or len(ast[1]) == 1  # one merged test, not one call per term
    assert evaluate(ast, {"displayName": "U9999x"}) and not evaluate(ast, {"displayName": "x"})
    nes, _ = parse_filter(" and ".join(f"displayName ne 'u{i}'" for i in range(10_000)))
    assert len(nes[1]) == 1 and evaluate(nes, {"displayName": "x"}) and not evaluate(nes, {"displayName": "U5"})
