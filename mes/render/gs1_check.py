"""Second opinion on an element string before it is encoded: biip, an independent GS1 parser.

biip raises only for strings it cannot split; check digits and dates come back as ``*_error``
fields or missing values on each element, so every element is inspected here.
"""

from __future__ import annotations

from functools import lru_cache

from mes.domain.gs1 import AI_FIELD, DATE_AIS
from mes.errors import InvalidInput


@lru_cache(maxsize=16384)  # a valid string is checked once (the service and the renderer
def check_element_string(hri: str) -> None:  # both ask); a refusal raises, is never cached
    from biip import ParseError
    from biip.gs1_messages import GS1Message

    try:
        msg = GS1Message.parse_hri(hri)
    except ParseError as exc:
        raise InvalidInput(f"GS1 element string {hri!r} is not valid: {exc}", field="udi") from None
    if msg.as_hri() != "".join(hri.split()):
        raise InvalidInput(f"GS1 element string {hri!r} does not round-trip: read as "
                           f"{msg.as_hri()!r}", field="udi")
    for es in msg.element_strings:
        ai = es.ai.ai
        field = AI_FIELD.get(ai, f"AI ({ai})")
        for error in (es.gtin_error, es.sscc_error, es.gln_error):
            if error:
                raise InvalidInput(f"AI ({ai}): {error}", field=field)
        if ai in DATE_AIS and es.date is None:
            raise InvalidInput(f"AI ({ai}): {es.value!r} is not a valid date", field=field)
