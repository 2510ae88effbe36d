"""Built-in tool: arithmetic, evaluated by walking the syntax tree (never `eval`), with bounds
on the expression, the exponent and the size of every intermediate number."""

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from chat.tools.registry import Tool, ToolContext, ToolError

MAX_EXPRESSION_CHARS = 500
MAX_NODES = 200
MAX_INT_BITS = 4_000  # ~1,200 decimal digits
MAX_EXPONENT = 10_000

BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
UNARY: dict[type, Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs, "round": round, "min": min, "max": max, "sqrt": math.sqrt, "exp": math.exp,
    "log": math.log, "log10": math.log10, "log2": math.log2, "sin": math.sin, "cos": math.cos,
    "tan": math.tan, "asin": math.asin, "acos": math.acos, "atan": math.atan,
    "floor": math.floor, "ceil": math.ceil, "factorial": math.factorial,
}  # fmt: skip
CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau}


class CalculatorArguments(BaseModel):
    expression: str = Field(
        max_length=MAX_EXPRESSION_CHARS,
        description="Arithmetic such as (2 + 3) * 4 ** 2 / 7; functions: "
        + ", ".join(sorted(FUNCTIONS))
        + "; constants: pi, e, tau.",
    )


def calculate(arguments: CalculatorArguments, context: ToolContext) -> str:
    return str(evaluate(arguments.expression))


def evaluate(expression: str) -> int | float:
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise ToolError("That is not an arithmetic expression.") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ToolError(f"The expression is too long (over {MAX_NODES} parts).")
    try:
        return _eval(tree.body)
    except ZeroDivisionError:
        raise ToolError("Division by zero.") from None
    except (OverflowError, ValueError, TypeError) as err:
        raise ToolError(f"Cannot compute that: {err}.") from None


def _eval(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.Name) and node.id in CONSTANTS:
        return CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in UNARY:
        return UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
        left, right = _eval(node.left), _eval(node.right)
        _check_size(node.op, left, right)
        return _bounded(BINARY[type(node.op)](left, right))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        function = FUNCTIONS.get(node.func.id)
        if function is not None:
            values = [_eval(arg) for arg in node.args]
            if function is math.factorial and values and values[0] > 500:
                raise ToolError("factorial is limited to 500.")
            return _bounded(function(*values))
    raise ToolError(f"Not allowed in an expression: {ast.unparse(node)[:60]!r}.")


def _check_size(op: ast.operator, left: Any, right: Any) -> None:
    """Refuse before computing: a big power or product would take the CPU and memory."""
    if isinstance(op, ast.Pow):
        if abs(right) > MAX_EXPONENT:
            raise ToolError(f"The exponent is limited to {MAX_EXPONENT:,}.")
        if isinstance(left, int) and isinstance(right, int):
            if left.bit_length() * abs(right) > MAX_INT_BITS:
                raise ToolError("The result would be too large.")
    if isinstance(op, ast.Mult) and isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise ToolError("The result would be too large.")


def _bounded(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ToolError("The result is not a number.")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise ToolError("The result would be too large.")
    return value


TOOL = Tool(
    name="calculator",
    description="Evaluate an arithmetic expression exactly (integers) or as a decimal.",
    arguments=CalculatorArguments,
    func=calculate,
)
