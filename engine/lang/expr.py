"""Gate expressions (`when: screen == "in_game" and weapon.clip > 0`), checked at load time.

Only comparisons, boolean logic, constants, arithmetic and field access on processor names
are allowed; anything else (calls, dunder attributes, lambdas) is refused with the column
where it stands. Comparing with a missing value is simply false, never an error.
"""
from __future__ import annotations

import ast
from typing import Any

_ALLOWED = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
    ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn,
    ast.Is, ast.IsNot, ast.Name, ast.Load, ast.Attribute, ast.Constant, ast.List, ast.Tuple,
    ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Mod, ast.Subscript, ast.IfExp,
)
CONSTANTS = {"true": True, "false": False, "null": None, "none": None, "True": True, "False": False, "None": None}


class ExprError(Exception):
    def __init__(self, message: str, col: int | None = None):
        super().__init__(message)
        self.col = col


class Record:
    """A processor's object seen from an expression: `weapon.clip`; missing fields are None."""

    __slots__ = ("_d",)

    def __init__(self, d: dict[str, Any]):
        self._d = d

    def __getattr__(self, name: str) -> Any:
        return wrap(self._d.get(name))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and self._d == other._d

    def __bool__(self) -> bool:
        return bool(self._d)


class ScreenName(str):
    """A screen group's winner: compares as its name (`screen == "in_game"`), has `.name`."""

    @property
    def name(self) -> str:
        return str(self)


def wrap(value: Any) -> Any:
    return Record(value) if isinstance(value, dict) else value


class Expr:
    """A checked expression, evaluated by walking its AST: each comparison that cannot be
    made (a missing value, a type mismatch) is false on its own, so `a.x > 0 or b == "y"`
    still opens on its second half."""

    def __init__(self, text: str, names: set[str]):
        self.text = text
        self.names = names
        self._tree = ast.parse(text.strip(), mode="eval").body

    def evaluate(self, namespace: dict[str, Any]) -> bool:
        return bool(_eval(self._tree, namespace))


_COMPARE = {
    ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b, ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
    ast.Is: lambda a, b: a is b, ast.IsNot: lambda a, b: a is not b,
}
_BINOP = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b, ast.Mod: lambda a, b: a % b,
}


def _eval(node: ast.AST, ns: dict[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return CONSTANTS[node.id] if node.id in CONSTANTS else ns.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _eval(node.value, ns)
        return getattr(base, node.attr) if isinstance(base, (Record, ScreenName)) else None
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            result: Any = True
            for v in node.values:
                result = _eval(v, ns)
                if not result:
                    return result
            return result
        result = False
        for v in node.values:
            result = _eval(v, ns)
            if result:
                return result
        return result
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, ns)
        if isinstance(node.op, ast.Not):
            return not operand
        try:
            return -operand if isinstance(node.op, ast.USub) else +operand
        except TypeError:
            return None
    if isinstance(node, ast.Compare):
        left = _eval(node.left, ns)
        for op, comp in zip(node.ops, node.comparators):
            right = _eval(comp, ns)
            try:
                if not _COMPARE[type(op)](left, right):
                    return False
            except TypeError:
                return False  # comparing with a missing value: this comparison is false
            left = right
        return True
    if isinstance(node, ast.BinOp):
        try:
            return _BINOP[type(node.op)](_eval(node.left, ns), _eval(node.right, ns))
        except (TypeError, ZeroDivisionError):
            return None
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_eval(e, ns) for e in node.elts]
    if isinstance(node, ast.Subscript):
        base, index = _eval(node.value, ns), _eval(node.slice, ns)
        try:
            return wrap(base[index]) if isinstance(base, (list, tuple, str)) else None
        except (IndexError, TypeError):
            return None
    if isinstance(node, ast.IfExp):
        return _eval(node.body, ns) if _eval(node.test, ns) else _eval(node.orelse, ns)
    raise ValueError(f"unexpected expression node {type(node).__name__}")  # excluded at load


def compile_expr(text: str, known: set[str]) -> Expr:
    """Check and compile ``text``; names must be processors in ``known``."""
    if not text.strip():
        raise ExprError("empty expression")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise ExprError(f"not a valid expression: {e.msg}", e.offset) from None
    names: set[str] = set()
    for node in ast.walk(tree):
        col = getattr(node, "col_offset", None)
        if not isinstance(node, _ALLOWED):
            raise ExprError(f"'{type(node).__name__}' is not allowed here; use comparisons, and/or/not, "
                            f"constants and processor.field", col + 1 if col is not None else None)
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ExprError(f"field names starting with '_' are not allowed ({node.attr})", col + 1 if col is not None else None)
        if isinstance(node, ast.Name) and node.id not in CONSTANTS:
            if node.id not in known:
                raise ExprError(f"unknown name '{node.id}'; expected a processor name "
                                f"({', '.join(sorted(known)) or 'none declared'})", col + 1 if col is not None else None)
            names.add(node.id)
    return Expr(text, names)


def compared_names(expr: Expr) -> list[tuple[str, str]]:
    """Each pair of bare names an expression compares for (in)equality or membership, the
    first maybe as ``name.name`` (``screen == results``, ``screen.name != results``): a
    screen's name written without quotes reads as the processor of that name instead."""
    pairs = []
    for node in ast.walk(expr._tree):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        for op, a, b in zip(node.ops, sides, sides[1:]):
            if not isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn)):
                continue
            for x, y in ((a, b), (b, a)):
                if isinstance(x, ast.Attribute) and x.attr == "name":
                    x = x.value
                if isinstance(x, ast.Name) and isinstance(y, ast.Name):
                    pairs.append((x.id, y.id))
    return pairs
