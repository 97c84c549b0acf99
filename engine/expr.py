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
    def __init__(self, text: str, names: set[str]):
        self.text = text
        self.names = names
        tree = ast.parse(text.strip(), mode="eval")
        self._code = compile(tree, "<when>", "eval")

    def evaluate(self, namespace: dict[str, Any]) -> bool:
        env = {**CONSTANTS, **namespace}
        try:
            return bool(eval(self._code, {"__builtins__": {}}, env))  # noqa: S307 - AST whitelisted at load
        except (TypeError, AttributeError, ZeroDivisionError, IndexError, KeyError):
            return False


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
