"""OData v4 ``$filter`` as Microsoft Graph accepts it on directory objects: a parser into a small AST and an
evaluator over rendered (Graph-named) objects. Comparisons of strings are case-insensitive, as the directory's are."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ... import bounds
from ...errors import InvalidArgument


class FilterSyntaxError(InvalidArgument):
    """``Invalid filter clause``: the expression does not parse (Graph answers 400 BadRequest)."""


def _syntax_error(pos: int, text: str) -> FilterSyntaxError:
    # Graph repeats the filter in the message; the echo is bounded (bounds.clip).
    return FilterSyntaxError(f"Invalid filter clause: Syntax error at position {pos} in '{bounds.clip(text)}'.")


_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))
  | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<name>[A-Za-z_$@][A-Za-z0-9_.$@-]*)
  | (?P<punct>[(),/:])
""",
    re.VERBOSE,
)

COMPARISONS = ("eq", "ne", "gt", "ge", "lt", "le")
FUNCTIONS = ("startswith", "endswith", "contains")


@dataclass
class Token:
    """One lexical token with its position (for Graph's 'Syntax error at position N')."""

    kind: str
    value: object
    pos: int


@dataclass
class FilterInfo:
    """What an expression uses, so the wire layer can tell a default query from an advanced one."""

    properties: set[str] = field(default_factory=set)
    operators: set[str] = field(default_factory=set)
    functions: set[str] = field(default_factory=set)
    null_comparisons: set[str] = field(default_factory=set)
    #: Most child clauses of one OR (an ``or`` chain, or the values of an ``in`` list).
    max_or_clauses: int = 0
    #: Collection paths counted with ``/$count`` (``assignedLicenses/$count eq 0``): an advanced query.
    counted: set[str] = field(default_factory=set)
    #: ``(path, operator, literal)`` of every ``/$count`` comparison, for the wire layer's support check.
    count_comparisons: list = field(default_factory=list)


def tokenize(text: str) -> list[Token]:
    """Split a ``$filter`` value into tokens; raises :class:`FilterSyntaxError` on stray characters."""
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m:
            raise _syntax_error(pos, text)
        kind = m.lastgroup or ""  # every alternative of the token pattern is a named group
        raw = m.group(kind)
        if kind == "string":
            out.append(Token("lit", raw[1:-1].replace("''", "'"), pos))
        elif kind in ("datetime", "guid"):
            out.append(Token("lit", raw, pos))
        elif kind == "number":
            out.append(Token("lit", float(raw) if "." in raw else int(raw), pos))
        elif kind == "name":
            low = raw.lower()
            if low in ("true", "false"):
                out.append(Token("lit", low == "true", pos))
            elif low == "null":
                out.append(Token("lit", None, pos))
            else:
                out.append(Token("name", raw, pos))
        elif kind == "punct":
            out.append(Token(raw, raw, pos))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.info = FilterInfo()
        self.lambda_vars: set[str] = set()
        self.depth = 0

    def enter(self, tok: Token):
        """One level deeper (a parenthesis, ``not`` or a lambda); past :data:`bounds.MAX_FILTER_DEPTH` the filter
        is refused, so nesting never reaches Python's recursion limit."""
        self.depth += 1
        if self.depth > bounds.MAX_FILTER_DEPTH:
            raise self.error(tok)

    def error(self, tok: Token | None = None):
        """A syntax error at ``tok`` (or at the end of the text)."""
        pos = tok.pos if tok else len(self.text)
        return _syntax_error(pos, self.text)

    def peek(self, offset: int = 0) -> Token | None:
        """The token ``offset`` ahead, or None at the end."""
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def take(self, kind: str | None = None, word: str | None = None) -> Token:
        """Consume the next token, which must be of ``kind`` (and spell ``word``)."""
        tok = self.peek()
        if tok is None or (kind and tok.kind != kind) or (word and str(tok.value).lower() != word):
            raise self.error(tok)
        self.i += 1
        return tok

    def is_word(self, word: str) -> bool:
        """Whether the next token is the keyword ``word``."""
        tok = self.peek()
        return tok is not None and tok.kind == "name" and str(tok.value).lower() == word

    def parse(self):
        """The whole expression (nothing may follow it)."""
        if not self.tokens:
            raise self.error()
        node = self.or_expr()
        if self.peek() is not None:
            raise self.error(self.peek())
        return node

    def or_expr(self):
        """``and_expr (or and_expr)*``: a chain is one n-ary node (no recursion per term)."""
        terms = [self.and_expr()]
        while self.is_word("or"):
            self.i += 1
            terms.append(self.and_expr())
        if len(terms) == 1:
            return terms[0]
        self.info.max_or_clauses = max(self.info.max_or_clauses, len(terms))
        return ("or", _merge_affixes(_merge_equalities(terms)))

    def and_expr(self):
        """``not_expr (and not_expr)*``."""
        terms = [self.not_expr()]
        while self.is_word("and"):
            self.i += 1
            terms.append(self.not_expr())
        return terms[0] if len(terms) == 1 else ("and", _merge_inequalities(terms))

    def not_expr(self):
        """``not not_expr | comparison``."""
        if self.is_word("not"):
            self.enter(self.peek())
            self.i += 1
            self.info.operators.add("not")
            node = ("not", self.not_expr())
            self.depth -= 1
            return node
        return self.comparison()

    def comparison(self):
        """``operand op operand``, ``operand in (literals)``, or a boolean function/lambda/group."""
        left = self.operand()
        tok = self.peek()
        if tok is not None and tok.kind == "name" and str(tok.value).lower() in COMPARISONS:
            op = str(tok.value).lower()
            self.i += 1
            right = self.operand()
            self.info.operators.add(op)
            for side, other in ((left, right), (right, left)):
                if side[0] == "prop" and other == ("lit", None):
                    self.info.null_comparisons.add("/".join(side[1]))
                if side[0] == "count":
                    self.info.count_comparisons.append(
                        ("/".join(side[1]), op, other[1] if other[0] == "lit" else other)
                    )
            return ("cmp", op, left, right)
        if tok is not None and tok.kind == "name" and str(tok.value).lower() == "in":
            self.i += 1
            self.take("(")
            values = [self.literal()]
            while self.peek() is not None and self.peek().kind == ",":
                self.i += 1
                values.append(self.literal())
            self.take(")")
            self.info.operators.add("in")
            self.info.max_or_clauses = max(self.info.max_or_clauses, len(values))
            return (
                "in",
                left,
                frozenset(_norm(v) for v in values if _hashable(v)),
                [v for v in values if not _hashable(v)],
            )
        if left[0] in ("func", "any", "group"):
            return left[1] if left[0] == "group" else left
        raise self.error(tok)

    def literal(self):
        """A literal value (string, number, boolean, null, date-time, GUID)."""
        tok = self.take("lit")
        return tok.value

    def operand(self):
        """A literal, a parenthesized expression, a function call or a property path."""
        tok = self.peek()
        if tok is None:
            raise self.error()
        if tok.kind == "lit":
            self.i += 1
            return ("lit", tok.value)
        if tok.kind == "(":
            self.enter(tok)
            self.i += 1
            node = self.or_expr()
            self.take(")")
            self.depth -= 1
            return ("group", node)
        if tok.kind == "name":
            name = str(tok.value)
            nxt = self.peek(1)
            if name.lower() in FUNCTIONS and nxt is not None and nxt.kind == "(":
                self.i += 2
                args = [self.operand()]
                while self.peek() is not None and self.peek().kind == ",":
                    self.i += 1
                    args.append(self.operand())
                self.take(")")
                self.info.functions.add(name.lower())
                return ("func", name.lower(), args)
            return self.path()
        raise self.error(tok)

    def path(self):
        """A property path (``a/b``), a lambda variable path, or a path ending in ``any``/``all``."""
        first = self.take("name")
        parts = [str(first.value)]
        while self.peek() is not None and self.peek().kind == "/":
            self.i += 1
            word = self.take("name")
            if str(word.value).lower() in ("any", "all") and self.peek() is not None and self.peek().kind == "(":
                return self.lambda_(parts, str(word.value).lower())
            if str(word.value).lower() == "$count":
                # ``collection/$count``: the number of items (OData 4.01 URL conventions 5.1.1.10); must end the path.
                nxt = self.peek()
                if nxt is not None and nxt.kind == "/":
                    raise self.error(nxt)
                if parts[0] in self.lambda_vars:
                    raise self.error(word)
                self.info.properties.add("/".join(parts))
                self.info.counted.add("/".join(parts))
                return ("count", parts)
            parts.append(str(word.value))
        if parts[0] in self.lambda_vars:
            return ("var", parts[0], parts[1:])
        self.info.properties.add("/".join(parts))
        return ("prop", parts)

    def lambda_(self, parts: list[str], kind: str):
        """``path/any(v: expr)`` or ``path/all(v: expr)`` (``any()`` tests for a non-empty collection)."""
        self.enter(self.take("("))
        self.info.properties.add("/".join(parts))
        self.info.functions.add(kind)
        nxt = self.peek()
        if nxt is not None and nxt.kind == ")":
            self.i += 1
            self.depth -= 1
            return ("any", parts, None, None, kind)
        var = str(self.take("name").value)
        self.take(":")
        self.lambda_vars.add(var)
        body = self.or_expr()
        self.lambda_vars.discard(var)
        self.take(")")
        self.depth -= 1
        return ("any", parts, var, body, kind)


def parse_filter(text: str):
    """Parse a ``$filter`` expression; returns ``(ast, FilterInfo)``."""
    parser = _Parser(text)
    ast = parser.parse()
    return ast, parser.info


def _norm(value):
    return value.casefold() if isinstance(value, str) else value


def _hashable(value) -> bool:
    return isinstance(value, (str, int, float, bool)) or value is None


def _merge_equalities(terms: list) -> list:
    """``p eq 'a' or p eq 'b' or ...`` as one ``in`` node per property path (same answers, one set lookup per
    object instead of one comparison per value)."""
    return _merge_by_path(terms, _equality_path, _in_node)


def _equality_path(term) -> tuple | None:
    if term[0] == "cmp" and term[1] == "eq" and term[2][0] == "prop" and term[3][0] == "lit" and _hashable(term[3][1]):
        return tuple(term[2][1])
    return None


def _in_node(path: tuple, group: list) -> tuple:
    return ("in", ("prop", list(path)), frozenset(_norm(t[3][1]) for t in group), [])


def _merge_by_path(terms: list, path_of, node_of) -> list:
    """The terms ``path_of`` puts on one property path, where there are two or more, as one node (``node_of(path,
    group)``) in the first one's place; every other term as it is, in order."""
    groups: dict[tuple, list] = {}
    for term in terms:
        path = path_of(term)
        if path is not None:
            groups.setdefault(path, []).append(term)
    merged = {path for path, group in groups.items() if len(group) > 1}
    if not merged:
        return terms
    out: list = []
    done: set = set()
    for term in terms:
        path = path_of(term)
        if path not in merged:
            out.append(term)
        elif path not in done:
            done.add(path)
            out.append(node_of(path, groups[path]))
    return out


def _merge_inequalities(terms: list) -> list:
    """``p ne 'a' and p ne 'b' and ...`` as ``not`` of one ``in`` node per property path (De Morgan: same answers)."""
    nes = [t for t in terms if t[0] == "cmp" and t[1] == "ne"]
    if len(nes) < 2:
        return terms
    merged = _merge_equalities([("cmp", "eq", *t[2:]) for t in nes])
    if len(merged) == len(nes):
        return terms
    others = [t for t in terms if not (t[0] == "cmp" and t[1] == "ne")]
    return others + [("not", t) if t[0] == "in" else ("cmp", "ne", *t[2:]) for t in merged]


def _merge_affixes(terms: list) -> list:
    """``startswith(p, 'a') or endswith(p, 'b') or contains(p, 'c') or ...`` as one ``affix`` node per property
    path: the value's prefixes, suffixes and infixes looked up in sets by length (same answers), so thousands of
    terms cost a few lookups per object instead of one call per term."""
    return _merge_by_path(terms, _affix_path, _affix_node)


def _affix_path(term) -> tuple | None:
    return tuple(term[2][0][1]) if _is_affix(term) else None


def _affix_node(path: tuple, group: list) -> tuple:
    tables: dict[str, dict[int, set[str]]] = {"startswith": {}, "endswith": {}, "contains": {}}
    for t in group:
        needle = t[2][1][1].casefold()
        tables[t[1]].setdefault(len(needle), set()).add(needle)
    return ("affix", ("prop", list(path)), tables)


def _is_affix(term) -> bool:
    return (
        term[0] == "func"
        and len(term[2]) == 2
        and term[2][0][0] == "prop"
        and term[2][1][0] == "lit"
        and isinstance(term[2][1][1], str)
    )


def _affix_hit(hay: str, tables: dict[str, dict[int, set[str]]]) -> bool:
    n = len(hay)
    for size, needles in tables["startswith"].items():
        if size <= n and hay[:size] in needles:
            return True
    for size, needles in tables["endswith"].items():
        if size <= n and hay[n - size :] in needles:
            return True
    for size, needles in tables["contains"].items():
        if size <= n and not needles.isdisjoint(hay[i : i + size] for i in range(n - size + 1)):
            return True
    return False


def _resolve(obj: dict, parts: list[str]):
    value: Any = obj
    for part in parts:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _compare(op: str, left, right) -> bool:
    left, right = _norm(left), _norm(right)
    if op == "eq":
        return left == right
    if op == "ne":
        return left != right
    if left is None or right is None:
        return False
    try:
        return {"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[op]
    except TypeError:
        return False


def evaluate(ast, obj: dict, env: dict | None = None) -> bool:
    """Whether the rendered object ``obj`` satisfies the parsed filter."""
    return bool(_eval(ast, obj, env or {}))


def _value(node, obj, env):
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "prop":
        return _resolve(obj, node[1])
    if kind == "var":
        base = env.get(node[1])
        return _resolve(base, node[2]) if node[2] else base
    if kind == "count":
        items = _resolve(obj, node[1])
        # A null collection is empty: Graph renders unset collections as [].
        return len(items) if isinstance(items, list) else 0
    return _eval(node, obj, env)


def _eval(node, obj, env):
    kind = node[0]
    if kind == "or":
        return any(_eval(term, obj, env) for term in node[1])
    if kind == "and":
        return all(_eval(term, obj, env) for term in node[1])
    if kind == "not":
        return not _eval(node[1], obj, env)
    if kind == "group":
        return _eval(node[1], obj, env)
    if kind == "cmp":
        return _compare(node[1], _value(node[2], obj, env), _value(node[3], obj, env))
    if kind == "in":
        value = _norm(_value(node[1], obj, env))
        if _hashable(value) and value in node[2]:
            return True
        return any(value == _norm(v) for v in node[3])
    if kind == "affix":
        value = _value(node[1], obj, env)
        return isinstance(value, str) and _affix_hit(value.casefold(), node[2])
    if kind == "func":
        args = [_value(a, obj, env) for a in node[2]]
        if len(args) != 2 or not all(isinstance(a, str) for a in args):
            return False
        hay, needle = args[0].casefold(), args[1].casefold()
        return {"startswith": hay.startswith, "endswith": hay.endswith, "contains": lambda n: n in hay}[node[1]](needle)
    if kind == "any":
        _, parts, var, body, quant = node
        items = _resolve(obj, parts) or []
        if not isinstance(items, list):
            return False
        if body is None:
            return bool(items)

        def test(it):
            return _eval(body, obj, {**env, var: it})

        return any(test(it) for it in items) if quant == "any" else all(test(it) for it in items)
    if kind in ("lit", "prop", "var", "count"):
        return _value(node, obj, env)
    raise FilterSyntaxError("Invalid filter clause.")
