"""Rule conditions and formulas: SQL expressions, parsed and checked with sqlglot, rendered from the AST.

A policy author writes ``utilisation > 0.9 and max_dpd >= 30``. That text is never put into a query.
It is parsed into a sqlglot tree; every node must be of an allowed kind (comparisons, boolean logic,
arithmetic, a short list of pure functions, literals, casts to plain types) and every column must be
in the allow-list of the rule's target. The query is then rendered from the checked tree, with each
column re-created from the allow-list (quoted, qualified by the target's alias) and each literal
turned into a bound parameter, so the only characters of the author's text that reach the server are
values psycopg sends separately from the SQL.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.optimizer.simplify import simplify

MAX_LENGTH = 2000
MAX_NODES = 400

# Node kinds a condition or formula may contain. Anything else (subqueries, tables, stars, function
# calls sqlglot does not know, parameters, system functions, DML) is rejected by name.
_STRUCTURE = (exp.Paren, exp.Tuple)
_LOGIC = (exp.And, exp.Or, exp.Not)
_COMPARISONS = (
    exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Is, exp.In, exp.Between,
    exp.NullSafeEQ, exp.NullSafeNEQ, exp.Like, exp.ILike,
)
_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Neg)
_FUNCTIONS = (
    exp.Coalesce, exp.Greatest, exp.Least, exp.Abs, exp.Round, exp.Floor, exp.Ceil, exp.Nullif,
    exp.Case, exp.If, exp.Lower, exp.Upper,
)
_VALUES = (exp.Literal, exp.Boolean, exp.Null, exp.Column, exp.Identifier, exp.Cast, exp.DataType)
ALLOWED_NODES = _STRUCTURE + _LOGIC + _COMPARISONS + _ARITHMETIC + _FUNCTIONS + _VALUES
# Casts only to plain value types (never regclass, oid, regproc and the like).
ALLOWED_CAST_TYPES = {
    exp.DataType.Type.INT, exp.DataType.Type.BIGINT, exp.DataType.Type.SMALLINT, exp.DataType.Type.DECIMAL,
    exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT, exp.DataType.Type.TEXT, exp.DataType.Type.VARCHAR,
    exp.DataType.Type.BOOLEAN, exp.DataType.Type.DATE,
}
# Top-level node kinds that produce a boolean.
_BOOLEAN_ROOTS = _LOGIC + _COMPARISONS + (exp.Boolean,)
_NUMERIC_TYPES = {"numeric", "integer"}


class ExpressionError(ValueError):
    """A condition or formula that may not run; the message says which part is wrong."""


@dataclass(frozen=True)
class CheckedExpression:
    """A parsed and checked expression: the tree, the columns it reads and the text it came from."""

    text: str
    tree: exp.Expression
    columns: tuple[str, ...]
    is_boolean: bool

    def render(self, alias: str, params: ParamSink) -> str:
        """PostgreSQL text for this expression over ``alias``: columns re-created from their names
        (already checked against the allow-list), literals as named parameters collected in ``params``."""
        def rebuild(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Column):
                return exp.column(node.name.lower(), table=alias, quoted=True)
            if isinstance(node, exp.Literal):
                return exp.Placeholder(this=params.add(_literal_value(node)))
            return node

        tree = self.tree.copy().transform(rebuild)
        # Division is numeric (never integer division) and by zero gives NULL instead of aborting the
        # whole evaluation: a / b renders as cast(a as numeric) / nullif(b, 0).
        for division in list(tree.find_all(exp.Div)):
            division.set("this", exp.cast(division.this, exp.DataType.build("numeric")))
            division.set("expression", exp.Nullif(this=division.expression, expression=exp.Literal.number(0)))
        rendered = tree.sql(dialect="postgres")
        # Defence in depth: after the rebuild nothing of the author's text but parameters remains.
        _assert_rendered_safe(rendered)
        return f"({rendered})"


@dataclass
class ParamSink:
    """Collects bound parameters under generated names (p0, p1, …) for one query."""

    prefix: str = "p"
    values: dict[str, Any] = field(default_factory=dict)

    def add(self, value: Any) -> str:
        name = f"{self.prefix}{len(self.values)}"
        self.values[name] = value
        return name


def check_text(text: str) -> None:
    """Reject, before parsing, what has no place in an expression: statement separators, comments,
    dollar quoting, escapes, control and invisible characters, and non-ASCII outside string literals
    (full-width operators, homoglyph letters, bidirectional overrides)."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("is empty")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"is longer than {MAX_LENGTH} characters")
    in_string = False
    for position, char in enumerate(text):
        if char == "'":
            in_string = not in_string
            continue
        category = unicodedata.category(char)
        if in_string:
            if category.startswith("C") or (category.startswith("Z") and char != " "):
                raise ExpressionError(f"contains an invisible or control character U+{ord(char):04X} "
                                      f"at position {position}")
            if char == "\\":
                raise ExpressionError("contains a backslash (escapes are not allowed)")
            continue
        if char in "\n\t\r":
            continue
        if not (" " <= char <= "~"):
            raise ExpressionError(f"contains the character {char!r} (U+{ord(char):04X}) at position {position}: "
                                  "only ASCII is allowed outside string literals")
        if char == ";":
            raise ExpressionError("contains a semicolon: one expression only, no statements")
        if char in "$\\`{}[]":
            raise ExpressionError(f"contains {char!r}, which has no place in a rule expression")
    if in_string:
        raise ExpressionError("has an unterminated string literal")
    outside = _outside_strings(text)
    for marker in ("--", "/*", "*/", "#"):
        if marker in outside:
            raise ExpressionError(f"contains a comment marker {marker!r}")
    if "%" in outside:
        raise ExpressionError("contains '%' outside a string literal (no modulo, no placeholders)")
    if "::" in outside:
        raise ExpressionError("contains '::' (write cast(x as numeric) instead)")


def _outside_strings(text: str) -> str:
    parts, in_string = [], False
    for char in text:
        if char == "'":
            in_string = not in_string
            parts.append(" ")
        else:
            parts.append(" " if in_string else char)
    return "".join(parts)


def parse(
    text: str, allowed_columns: dict[str, str], *, boolean: bool, allow_constant: bool = False,
) -> CheckedExpression:
    """Parse ``text`` and check it against ``allowed_columns`` (name -> type: numeric, integer, text,
    boolean, date). ``boolean``: the expression is a condition (else a value, e.g. a limit formula)."""
    check_text(text)
    try:
        statements = sqlglot.parse(text, dialect="postgres")
    except (ParseError, TokenError) as error:
        raise ExpressionError(f"is not valid SQL: {_first_line(error)}") from None
    except RecursionError:
        raise ExpressionError("is nested too deeply") from None
    statements = [statement for statement in statements if statement is not None]
    if len(statements) != 1:
        raise ExpressionError("must be exactly one expression")
    tree = statements[0]
    nodes = list(tree.walk())
    if len(nodes) > MAX_NODES:
        raise ExpressionError(f"is too complex ({len(nodes)} parts, at most {MAX_NODES})")
    columns: list[str] = []
    for node in nodes:
        if node.comments:
            raise ExpressionError("contains a comment")
        if not isinstance(node, ALLOWED_NODES):
            raise ExpressionError(_describe_forbidden(node))
        if isinstance(node, exp.Column):
            if node.table or node.args.get("db") or node.args.get("catalog"):
                raise ExpressionError(f"qualifies the column {node.sql(dialect='postgres')}: "
                                      "write the bare column name")
            identifier = node.this
            name = identifier.name if isinstance(identifier, exp.Identifier) else str(identifier)
            if name not in allowed_columns:
                known = ", ".join(sorted(allowed_columns))
                raise ExpressionError(f"uses the column {name!r}, which is not allowed here (allowed: {known})")
            if name not in columns:
                columns.append(name)
        elif isinstance(node, exp.Cast):
            target = node.args.get("to")
            if not isinstance(target, exp.DataType) or target.this not in ALLOWED_CAST_TYPES:
                raise ExpressionError(f"casts to {target.sql(dialect='postgres') if target else '?'}, "
                                      "which is not allowed")
        elif isinstance(node, exp.In) and (node.args.get("query") or node.args.get("unnest")):
            raise ExpressionError("uses IN with a subquery")
        elif isinstance(node, exp.Literal) and not node.is_string:
            try:
                Decimal(node.this)
            except Exception:
                raise ExpressionError(f"has a malformed number {node.this!r}") from None
    if not columns and not allow_constant:
        raise ExpressionError("uses no column: a rule must depend on the customer's data")
    is_boolean = isinstance(tree, _BOOLEAN_ROOTS) or _is_boolean_column(tree, allowed_columns) or (
        isinstance(tree, exp.Paren) and isinstance(tree.unnest(), _BOOLEAN_ROOTS)
    )
    if boolean and not is_boolean:
        raise ExpressionError("is not a condition (true/false): compare a value, e.g. utilisation > 0.9")
    if not boolean and isinstance(tree, _BOOLEAN_ROOTS):
        raise ExpressionError("is a condition, but a number is expected here")
    if boolean and not allow_constant:
        try:
            simplified = simplify(tree.copy())
        except Exception:  # simplification is a lint; an expression it cannot handle is still checked above
            simplified = None
        if isinstance(simplified, exp.Boolean):
            raise ExpressionError(f"is always {'true' if simplified.this else 'false'}")
    return CheckedExpression(text=text, tree=tree, columns=tuple(columns), is_boolean=is_boolean)


def _is_boolean_column(tree: exp.Expression, allowed_columns: dict[str, str]) -> bool:
    node = tree.unnest() if isinstance(tree, exp.Paren) else tree
    return isinstance(node, exp.Column) and allowed_columns.get(node.name) == "boolean"


def _describe_forbidden(node: exp.Expression) -> str:
    if isinstance(node, exp.Subquery | exp.Select | exp.Exists | exp.Union | exp.Query):
        return "contains a subquery"
    if isinstance(node, exp.Anonymous):
        return f"calls the function {node.name}(), which is not allowed"
    if isinstance(node, exp.Func):
        return f"calls the function {node.sql_name().lower()}(), which is not allowed"
    if isinstance(node, exp.Table | exp.From | exp.Star):
        return "refers to a table"
    if isinstance(node, exp.Placeholder | exp.Parameter):
        return "contains a parameter placeholder"
    if isinstance(node, exp.Dot):
        return "uses a qualified name"
    if isinstance(node, exp.Command | exp.Insert | exp.Update | exp.Delete | exp.Drop | exp.Create):
        return "contains a statement"
    return f"uses {type(node).__name__}, which is not allowed in a rule expression"


def _literal_value(node: exp.Literal) -> Any:
    if node.is_string:
        return node.this
    number = Decimal(node.this)
    return int(number) if number == number.to_integral_value() and "." not in node.this and "e" not in \
        node.this.lower() else number


def _assert_rendered_safe(rendered: str) -> None:
    outside = _outside_strings(rendered)
    if ";" in outside or "--" in outside or "/*" in outside:
        raise ExpressionError("rendered to unexpected SQL")  # unreachable with the node allow-list


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
