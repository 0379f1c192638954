"""HipFix's tests.

The per-principal write limit (`HIPFIX_WRITE_RATE_LIMIT`) is off for the whole suite: test
clients write hundreds of times a second with one token, as no person does. The tests of the
limit itself (tests/api/test_rate_limit.py, tests/e2e/test_flood.py) set it where they need it.
It must be in the environment before `app.main` is imported (settings are read once), and
this package runs before conftest.py.
"""

import os

os.environ["HIPFIX_WRITE_RATE_LIMIT"] = ""
