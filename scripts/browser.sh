#!/bin/sh
# Chromium for the report's browser test (tests/api/test_report_browser.py), installed once
# by `make test`'s set-up, never from inside a test. Where it cannot be installed (not root,
# no apt-get, no package lists) this says why and the test is skipped, saying why too.
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "browser: chromium is missing and apt-get as root is not available (the browser test will be skipped)"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q chromium >/dev/null 2>&1 \
  || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } \
  || echo "browser: chromium could not be installed with apt-get (the browser test will be skipped)"
exit 0
