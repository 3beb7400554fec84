"""Strategies for the "every payload gets an answer" properties: any JSON value, and real samples mutated once.

A mutation walks into the sample (objects and arrays, any depth) and at one place removes a key, adds one of
`extra_keys`, or puts any JSON value or one of `tricky` (the values a handler is known to misread: "false",
an overflowing duration, a year-1 date) in place of what was there.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


def mutated(samples: Sequence[Any], *, tricky: Sequence[Any] = (), extra_keys: Sequence[str] = ("extra",)) -> Any:
    values = JSON_VALUES | st.sampled_from(list(tricky)) if tricky else JSON_VALUES

    @st.composite
    def one_mutation(draw: st.DrawFn) -> Any:
        event = copy.deepcopy(draw(st.sampled_from(list(samples))))
        node = event
        while isinstance(node, dict | list):
            keys: list[Any] = list(node) if isinstance(node, dict) else list(range(len(node)))
            if isinstance(node, dict):
                keys += [key for key in extra_keys if key not in node]
            if not keys:
                return event
            key = draw(st.sampled_from(keys))
            present = key in node if isinstance(node, dict) else True
            child = node[key] if present else None
            if isinstance(child, dict | list) and child and draw(st.booleans()):
                node = child
                continue
            if isinstance(node, dict) and present and draw(st.booleans()):
                del node[key]
            else:
                node[key] = draw(values)
            return event
        return event

    return one_mutation()
