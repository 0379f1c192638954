"""HipFix's tests.

The per-principal write limit (`HIPFIX_WRITE_RATE_LIMIT`) and replay budget
(`HIPFIX_REPLAY_BUDGET`) are off for the whole suite: test clients write hundreds of times a
second with one token, and replay histories no person would, over and over. The tests of
the limits themselves (tests/api/test_rate_limit.py, tests/e2e/test_flood.py,
tests/api/test_replay_budget.py, tests/e2e/test_bounds_served.py) set them where they need
them.
Mail (password resets) goes to a temporary folder of the run, not to the checkout's
`data/mail`; the SMTP tests start their own server.

Both must be in the environment before `app.main` is imported (settings are read once), and
this package runs before conftest.py.
"""

import os
import tempfile

os.environ["HIPFIX_WRITE_RATE_LIMIT"] = ""
os.environ["HIPFIX_REPLAY_BUDGET"] = ""
os.environ.setdefault("HIPFIX_MAIL_DIR", tempfile.mkdtemp(prefix="hipfix-test-mail-"))
