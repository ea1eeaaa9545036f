"""On-demand features as the studio shows them: one line saying what each reads and gives, a table
row per feature, and its definition (the SQL per output, or the Python function's source) in a
code block. Shared by the Feature services and On-demand features pages."""
from __future__ import annotations

from typing import Any, Sequence

import streamlit as st

from app.ui.formats import escape_markdown

PYTHON_EXAMPLE = '''\
import pandas as pd

from store import Feature, FeatureStore, on_demand


@on_demand(inputs=["customer_spend:avg_amount_30d"], request={"amount": "Fractional"},
           outputs=[Feature("amount_vs_avg_30d", "Fractional")], mode="pandas")
def amount_vs_avg(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"amount_vs_avg_30d": df["amount"] / df["avg_amount_30d"]})


fs = FeatureStore(STORE_PATH)
fs.register_on_demand(amount_vs_avg)  # needs the owner role on every group it reads
'''


def python_example(store_path: str) -> str:
    return PYTHON_EXAMPLE.replace("STORE_PATH", repr(store_path))


def request_text(feature: Any) -> str:
    return ", ".join(f"{f} ({t})" for f, t in feature.request.items())


def outputs_text(feature: Any) -> str:
    return ", ".join(f"{f.name} ({f.type})" for f in feature.outputs)


def summary(feature: Any) -> str:
    """'name — reads customer_spend:avg_amount_30d + request amount (Fractional) → x (Fractional)'."""
    reads = ", ".join(feature.inputs)
    if feature.request:
        reads = f"{reads} + request {request_text(feature)}" if reads else f"request {request_text(feature)}"
    return f"{feature.name} (v{feature.version}, {feature.kind}) — reads {reads} → {outputs_text(feature)}"


def table_rows(features: Sequence[Any]) -> list[dict[str, Any]]:
    return [{"on-demand feature": f"{f.name}@{f.version}", "kind": "SQL" if f.kind == "sql" else f"Python ({f.mode})",
             "inputs": ", ".join(f.inputs) or "—", "request": request_text(f) or "—", "outputs": outputs_text(f)}
            for f in features]


def definition_code(feature: Any) -> tuple[str, str]:
    """The text that defines ``feature`` and its language: one ``output (Type) = expression`` line
    per output for SQL, the function's source for Python."""
    if feature.kind == "sql":
        types = {f.name: f.type for f in feature.outputs}
        return "\n".join(f"-- {out} ({types[out]})\n{expr}" for out, expr in feature.sql.items()), "sql"
    return feature.source, "python"


def show(features: Sequence[Any], key: str) -> None:
    """A table of ``features`` and, per feature, its definition in an expander."""
    if not features:
        return
    st.dataframe(table_rows(features), hide_index=True, key=key,
                 column_config={"outputs": st.column_config.TextColumn(width="large")})
    for f in features:
        with st.expander(f"{f.name}@{f.version}: {'SQL' if f.kind == 'sql' else 'Python source'}",
                         icon=":material/function:", expanded=len(features) <= 2):
            if f.description:
                st.caption(escape_markdown(f.description))
            code, language = definition_code(f)
            st.code(code, language=language, wrap_lines=True)
            st.caption(f"Registered by {escape_markdown(f.created_by or 'unknown')} · owner "
                       f"{escape_markdown(f.owner or '—')}")
