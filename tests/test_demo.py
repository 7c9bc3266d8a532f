"""`make demo` must keep working: run its script (fast) against the test database."""

from __future__ import annotations

import os
import subprocess
import sys


def test_demo_runs_two_narrated_calls(database_url, db):
    out = subprocess.run(
        [sys.executable, "-m", "ivr_app.testing.demo", "--time-factor", "0.05"],
        env=dict(os.environ, DATABASE_URL=database_url), capture_output=True, text=True,
        timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    assert "caller     pressed 1" in text
    assert "hears ivr-app say: 1001" in text
    assert text.count("hears 'that is not an option'") == 3
    assert "Ivan Kuznetsov   route=welcome/manager-extension  keys=1" in text
    assert "(unknown)        route=welcome/no-input" in text
    assert "ivr-app stopped with exit code 0." in text
