"""The verification fast paths write exactly the text canonical_json writes (issue 13,
`audit verify` speed): an event's hashed fields field by field, a row's columns in sorted
order. Any difference would make a sound chain or row look tampered, or worse."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mes.domain.audit import (
    EVENT_FIELDS,
    event_text,
    parse_json,
    quoted_keys,
    row_digest,
    row_digest_of,
)


def _dumps(value: Any) -> str:  # the definition, not the shared encoder
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


scalars = st.one_of(st.none(), st.text(), st.integers(), st.booleans(),
                    st.floats(allow_nan=False), st.just(3.0), st.just(-0.0))
values = st.one_of(scalars, st.lists(scalars, max_size=3),
                   st.dictionaries(st.text(max_size=3), scalars, max_size=3))


@settings(max_examples=400, deadline=None)
@given(st.fixed_dictionaries({k: values for k in EVENT_FIELDS}), st.one_of(st.none(), values))
def test_event_text_is_canonical_json(event: dict[str, Any], images: Any) -> None:
    body = dict(event)
    if images is not None:
        body["row_images"] = images
    assert event_text(*(event[k] for k in EVENT_FIELDS), images) == _dumps(body)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=6), scalars, min_size=1, max_size=8))
def test_row_digest_of_sorted_columns_is_row_digest(row: dict[str, Any]) -> None:
    cols = list(row)
    assert row_digest_of(quoted_keys(cols), [row[c] for c in sorted(cols)]) == row_digest(row)
    norm = {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in row.items()}
    assert row_digest(row) == hashlib.sha256(_dumps(norm).encode()).hexdigest()[:32]


@settings(max_examples=400, deadline=None)
@given(st.one_of(values.map(_dumps), st.text(max_size=12),
                 values.map(lambda v: f" {_dumps(v)}\n"), values.map(lambda v: _dumps(v) + "x")))
def test_parse_json_is_json_loads(text: str) -> None:
    """What reconcile reads events with: the same values, the same refusals."""
    try:
        want: Any = json.loads(text)
    except ValueError as exc:
        want = type(exc)
    try:
        got: Any = parse_json(text)
    except ValueError as exc:
        got = type(exc)
    assert got == want or (got != got and want != want)  # NaN is not equal to itself
