"""HipFix's tests.

The per-principal write limit (`HIPFIX_WRITE_RATE_LIMIT`) is off for the whole suite: test
clients write hundreds of times a second with one token, as no person does. The tests of the
limit itself (tests/api/test_rate_limit.py, tests/e2e/test_flood.py) set it where they need it.
Mail (password resets) goes to a temporary folder of the run, not to the checkout's
`data/mail`; the SMTP tests start their own server.

Both must be in the environment before `app.main` is imported (settings are read once), and
this package runs before conftest.py.
"""

import os
import tempfile

os.environ["HIPFIX_WRITE_RATE_LIMIT"] = ""
os.environ.setdefault("HIPFIX_MAIL_DIR", tempfile.mkdtemp(prefix="hipfix-test-mail-"))
