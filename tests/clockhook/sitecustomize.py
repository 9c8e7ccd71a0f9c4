"""The test clock for `mes` processes that tests start (station workers, crash victims,
fresh interpreters measuring imports): Python runs this module at start-up because the
test fixture puts this folder on PYTHONPATH. It is not part of the program: `mes` itself
has no flag or variable that changes recorded time (Part 11: no backdating).

MES_TEST_CLOCK = "<ISO start>@<unix time when the test set it>": every process of one test
shares that timeline, on the test's calendar, moving at the real pace.
"""

import os

_spec = os.environ.get("MES_TEST_CLOCK")
if _spec:
    import time
    from datetime import datetime, timedelta

    from mes import clock

    _start_text, _set_at = _spec.rsplit("@", 1)
    _start, _origin = datetime.fromisoformat(_start_text), float(_set_at)
    clock._clock = lambda: _start + timedelta(seconds=time.time() - _origin)
