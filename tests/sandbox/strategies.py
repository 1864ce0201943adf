"""Hypothesis strategies shared by the sandbox's property tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)


def json_values(max_leaves: int = 20, max_size: int = 4) -> st.SearchStrategy[Any]:
    """Any JSON value: scalars, and lists and objects of them."""
    return st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
        lambda children: (
            st.lists(children, max_size=max_size)
            | st.dictionaries(text, children, max_size=max_size)
        ),
        max_leaves=max_leaves,
    )
