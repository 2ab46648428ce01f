"""The OPATH subset Exchange Online's ``-Filter`` parameter accepts: ``Property -eq|-ne|-like|-notlike value``
combined with ``-and``, ``-or``, ``-not`` and parentheses; values are quoted strings, barewords, ``$true``,
``$false`` and ``$null``. Comparisons are case-insensitive, as in Exchange."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from .. import bounds
from ..wildcard import compile_wildcard
from . import errors as exo_errors

# Leading whitespace is part of each token's match (possessive: never re-scanned), so a long filter is half as
# many regex calls; every alternative is anchored at its first character, so no input backtracks.
_TOKEN = re.compile(
    r"""\s*+(?:
    (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<op>-(?:eq|ne|like|notlike|and|or|not)\b)
  | (?P<squote>'(?:[^']|'')*')
  | (?P<dquote>"(?:[^"]|"")*")
  | (?P<var>\$(?:true|false|null)\b)
  | (?P<word>[^\s()'"]+)
)""",
    re.VERBOSE | re.IGNORECASE,
)

COMPARISONS = ("-eq", "-ne", "-like", "-notlike")


class _Syntax(Exception):
    def __init__(self, position: int):
        super().__init__(position)
        self.position = position


def _filter_error(text: str, detail: str, position: int):
    # The filter is echoed as Exchange does, but bounded: a megabyte of filter is not repeated back whole.
    return exo_errors.InvalidArgument(
        f'Cannot bind parameter \'Filter\' to the target. Exception setting "Filter": "{detail}\n'
        f'"{bounds.clip(text)}" at position {position}."',
        exception_type=exo_errors.BINDING_TYPE,
        err_id="ParameterBindingFailed",
        category="Client",
    )


def tokenize(text: str) -> list[tuple[str, str, int]]:
    """(kind, value, 1-based position) tokens; raises on characters no token matches."""
    out: list[tuple[str, str, int]] = []
    pos, end = 0, len(text.rstrip())
    match, append = _TOKEN.match, out.append
    while pos < end:
        m = match(text, pos)
        if m is None:
            raise _Syntax(len(text) - len(text[pos:].lstrip()) + 1)
        kind = cast(str, m.lastgroup)  # every alternative of the token pattern is a named group
        value = m.group(kind)
        if kind == "op":
            value = value.lower()
        append((kind, value, m.start(kind) + 1))
        pos = m.end()
    return out


def compile_filter(text: str, known: set[str] | None = None) -> Callable[[dict], bool]:
    """Parse an OPATH filter into a predicate over cmdlet output objects. ``known`` holds the filterable
    property names (case-insensitive); others are refused as Exchange does."""
    raw = text if isinstance(text, str) else str(text)
    body = raw.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    known_map = {k.lower(): k for k in (known or ())}
    try:
        tokens = tokenize(body)
        if not tokens:
            raise _Syntax(1)
        parser = _Parser(tokens, known_map if known is not None else None)
        tree = parser.parse_or()
        if parser.i != parser.count:
            raise _Syntax(tokens[parser.i][2])
    except _Syntax as exc:
        raise _filter_error(
            raw,
            "Invalid filter syntax. For a description of the filter parameter syntax see the command help.",
            exc.position,
        ) from None
    except _UnknownProperty as exc:
        raise _filter_error(
            raw,
            f'"{bounds.clip(exc.name)}" is not a recognized filterable property. For a complete '
            f"list of filterable properties see the command help.",
            exc.position,
        ) from None
    return _Predicate(tree, frozenset(parser.properties))


class _Predicate:
    """A compiled filter: call it on an output object; ``properties`` names what it reads (so a caller may hand
    it a partial object holding just those)."""

    __slots__ = ("properties", "test")

    def __init__(self, test, properties: frozenset):
        self.test, self.properties = test, properties

    def __call__(self, obj) -> bool:
        return bool(self.test(obj))


class _UnknownProperty(Exception):
    def __init__(self, name: str, position: int):
        super().__init__(name)
        self.name, self.position = name, position


class _Parser:
    def __init__(self, tokens, known):
        last = tokens[-1]
        # An end marker after the last token: lookahead needs no bounds check (long filters are many lookaheads).
        self.tokens, self.known, self.i = tokens + [("end", "", last[2] + len(last[1]))], known, 0
        self.count = len(tokens)
        self.depth = 0
        self.properties: set[str] = set()

    def peek(self):
        """The next token, or None at the end."""
        tok = self.tokens[self.i]
        return None if tok[0] == "end" else tok

    def take(self):
        """Consume the next token (a syntax error at the end of the text)."""
        tok = self.tokens[self.i]
        if tok[0] == "end":
            raise _Syntax(tok[2])
        self.i += 1
        return tok

    def enter(self, tok):
        """One level deeper (a parenthesis or ``-not``); past :data:`bounds.MAX_FILTER_DEPTH` a syntax error."""
        self.depth += 1
        if self.depth > bounds.MAX_FILTER_DEPTH:
            raise _Syntax(tok[2])

    def parse_or(self):
        """``a -or b -or ...``: the loosest binding; a chain is one node, so its length costs no recursion."""
        terms = [self.parse_and()]
        tokens = self.tokens
        while tokens[self.i][1] == "-or":  # only an operator token has this value (a word cannot, see _TOKEN)
            self.i += 1
            terms.append(self.parse_and())
        if len(terms) == 1:
            return terms[0]
        terms = _merge_equalities(terms)
        if len(terms) == 1:
            return terms[0]
        return lambda o: any(t(o) for t in terms)

    def parse_and(self):
        """``a -and b -and ...``: binds tighter than -or."""
        terms = [self.parse_not()]
        tokens = self.tokens
        while tokens[self.i][1] == "-and":
            self.i += 1
            terms.append(self.parse_not())
        if len(terms) == 1:
            return terms[0]
        terms = _merge_equalities(terms, negated=True)
        if len(terms) == 1:
            return terms[0]
        return lambda o: all(t(o) for t in terms)

    def parse_not(self):
        """``-not a``."""
        tok = self.tokens[self.i]
        if tok[1] == "-not":
            self.i += 1
            self.enter(tok)
            inner = self.parse_not()
            self.depth -= 1
            return lambda o: not inner(o)
        return self.parse_primary()

    def parse_primary(self):
        """A parenthesised expression or ``Property -op value``."""
        tok = self.take()
        if tok[0] == "lparen":
            self.enter(tok)
            inner = self.parse_or()
            close = self.take()
            if close[0] != "rparen":
                raise _Syntax(close[2])
            self.depth -= 1
            return inner
        if tok[0] != "word":
            raise _Syntax(tok[2])
        prop = tok[1]
        if self.known is not None:
            if prop.lower() not in self.known:
                raise _UnknownProperty(prop, tok[2])
            prop = self.known[prop.lower()]
        self.properties.add(prop)
        op = self.take()
        if op[0] != "op" or op[1] not in COMPARISONS:
            raise _Syntax(op[2])
        value_tok = self.take()
        value = _literal(value_tok)
        return _comparison(prop, op[1], value)


_NULL = object()


def _literal(tok):
    kind, text, pos = tok
    if kind == "squote":
        return text[1:-1].replace("''", "'")
    if kind == "dquote":
        return text[1:-1].replace('""', '"')
    if kind == "var":
        return {"$true": True, "$false": False, "$null": _NULL}[text.lower()]
    if kind == "word":
        return text
    raise _Syntax(pos)


def _as_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value).lower()


def _strip_smtp(text: str) -> str:
    return text[5:] if text.startswith("smtp:") else text


def _equals(actual, expected) -> bool:
    if expected is _NULL:
        return actual is None or actual == "" or actual == []
    if isinstance(actual, list):
        return any(_equals(a, expected) for a in actual)
    if isinstance(actual, bool) or isinstance(expected, bool):
        return _as_text(actual) == _as_text(expected)
    if actual is None:
        return False
    a, e = _as_text(actual), _as_text(expected)
    return a == e or (":" not in e and _strip_smtp(a) == e)


def _like_matcher(pattern):
    """A ``-like`` test against one pattern, compiled once per filter (linear: see wildcard.py)."""
    if pattern is _NULL:
        return lambda actual: _equals(actual, _NULL)
    wildcard = compile_wildcard(_as_text(pattern))

    def test(actual) -> bool:
        if isinstance(actual, list):
            return any(test(a) for a in actual)
        if actual is None:
            return False
        return wildcard.match(_as_text(actual))

    return test


def _like(actual, pattern) -> bool:
    """Whether ``actual`` matches the ``-like`` pattern (one-off; filters compile theirs once)."""
    return _like_matcher(pattern)(actual)


def _getter(prop: str):
    def get(obj):
        """The property's value (case-insensitive name)."""
        if prop in obj:
            return obj[prop]
        lower = prop.lower()
        return next((v for k, v in obj.items() if k.lower() == lower), None)

    return get


def _comparison(prop: str, op: str, value):
    get = _getter(prop)
    if op == "-eq":
        test: Any = lambda o: _equals(get(o), value)  # noqa: E731
        # Remembered so an -or chain of equalities on one property becomes one set lookup (_merge_equalities).
        test.equality = (prop, value) if value is not _NULL else None
        return test
    if op == "-ne":
        differs: Any = lambda o: not _equals(get(o), value)  # noqa: E731
        # An -and chain of these on one property is one set lookup too, negated (_merge_equalities).
        differs.inequality = (prop, value) if value is not _NULL else None
        return differs
    like = _like_matcher(value)
    if op == "-like":
        matches: Any = lambda o: like(get(o))  # noqa: E731
        # Remembered so an -or chain of -like terms on one property is matched in one pass (_merge_equalities).
        matches.likeness = (prop, _as_text(value)) if value is not _NULL else None
        return matches
    unlike: Any = lambda o: not like(get(o))  # noqa: E731
    unlike.unlikeness = (prop, _as_text(value)) if value is not _NULL else None
    return unlike


def _merge_equalities(terms: list, negated: bool = False) -> list:
    """``P -eq 'a' -or P -eq 'b' -or ...`` as one set lookup per property, and ``P -like 'a*' -or P -like '*b*' -or
    ...`` as one pass over the value per property (same answers as the terms one by one), so a filter listing
    thousands of values costs a few lookups per object instead of one comparison per value. ``negated``: the
    terms of an -and chain, where ``-ne`` and ``-notlike`` terms merge the same way (De Morgan)."""
    kinds = (
        (("inequality", _inequality_set), ("unlikeness", _unlike_set))
        if negated
        else (("equality", _equality_set), ("likeness", _like_set))
    )
    for attribute, build in kinds:
        groups: dict[str, list] = {}
        for term in terms:
            key = getattr(term, attribute, None)
            if key is not None:
                groups.setdefault(key[0], []).append(key[1])
        merged = {prop: values for prop, values in groups.items() if len(values) > 1}
        if not merged:
            continue
        out, done = [], set()
        for term in terms:
            key = getattr(term, attribute, None)
            if key is None or key[0] not in merged:
                out.append(term)
            elif key[0] not in done:
                done.add(key[0])
                out.append(build(key[0], merged[key[0]]))
        terms = out
    return terms


def _like_set(prop: str, patterns: list[str]):
    """Many ``-like`` patterns (already case-folded) on one property as one test: patterns without ``?`` and with
    stars only at their ends are exact texts, prefixes, suffixes or infixes, looked up in sets by length (a value of
    n characters costs at most n lookups per distinct length); any other pattern is matched on its own."""
    exact: set[str] = set()
    prefixes: dict[int, set[str]] = {}
    suffixes: dict[int, set[str]] = {}
    infixes: dict[int, set[str]] = {}
    others = []
    for pattern in patterns:
        core = pattern.strip("*")
        if "?" in pattern or "*" in core:
            others.append(compile_wildcard(pattern))
        elif pattern == core:
            exact.add(core)
        else:
            lead, trail = pattern.startswith("*"), pattern.endswith("*")
            table = infixes if lead and trail else (prefixes if trail else suffixes)
            table.setdefault(len(core), set()).add(core)

    def matches(text: str) -> bool:
        n = len(text)
        if text in exact:
            return True
        for size, cores in prefixes.items():
            if size <= n and text[:size] in cores:
                return True
        for size, cores in suffixes.items():
            if size <= n and text[n - size :] in cores:
                return True
        for size, cores in infixes.items():
            if size <= n and not cores.isdisjoint(text[i : i + size] for i in range(n - size + 1)):
                return True
        return any(w.match(text) for w in others)

    return _each_value(prop, matches)


def _inequality_set(prop: str, values: list):
    equal = _equality_set(prop, values)
    return lambda o: not equal(o)


def _unlike_set(prop: str, patterns: list[str]):
    like = _like_set(prop, patterns)
    return lambda o: not like(o)


def _equality_set(prop: str, values: list):
    texts = {_as_text(v) for v in values}
    plain = {t for t in texts if ":" not in t}
    # _equals for every value at once, SMTP prefixes stripped.
    return _each_value(prop, lambda text: text in texts or _strip_smtp(text) in plain)


def _each_value(prop: str, test):
    """A predicate on ``prop`` that is true when ``test`` holds for its text, or for any member's of a list (a
    multi-valued property); a missing value (None) never matches."""
    get = _getter(prop)

    def hit(actual) -> bool:
        if isinstance(actual, list):
            return any(hit(a) for a in actual)
        return actual is not None and test(_as_text(actual))

    return lambda o: hit(get(o))
