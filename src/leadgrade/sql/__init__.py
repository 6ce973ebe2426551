"""The scoring model compiled to SQL: one query for DuckDB, PostgreSQL, Spark, BigQuery or
Snowflake that gives the engine's numbers (docs/scale.md)."""

from leadgrade.sql.compiler import Compiled, Inputs, RuleColumn, compile_model, output_names
from leadgrade.sql.regex import RegexError
from leadgrade.sql.render import DIALECTS, CompileError, Dialect

__all__ = [
    "DIALECTS",
    "CompileError",
    "Compiled",
    "Dialect",
    "Inputs",
    "RegexError",
    "RuleColumn",
    "compile_model",
    "output_names",
]
