"""`make demo` must keep working: run its script (fast) against the test database."""

from __future__ import annotations

import os
import re
import subprocess
import sys


def test_demo_runs_its_narrated_calls(database_url, db, prompt_cache):
    out = subprocess.run(
        [sys.executable, "-m", "ivr_app.testing.demo", "--time-factor", "0.05",
         "--prompt-cache", str(prompt_cache)],
        env=dict(os.environ, DATABASE_URL=database_url), capture_output=True, text=True,
        timeout=180)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout
    assert "caller     presses 7" in text
    assert 'hears "That is not a valid option."' in text
    assert 'hears "We did not hear your choice."' in text
    assert "screen pop on 1001's desk: customer #1" in text
    assert "+15550100200   (unknown)       keys=7,-,0  route=main/extension 1000" in text
    assert "+442071234567  Emily Clark     keys=2      route=main/manager" in text
    assert "+79031234567   Ivan Kuznetsov  keys=none   route=vip" in text
    assert "Ivan Kuznetsov  IVR call: keys none; route vip; 1001 answered" in text
    assert 'hears "You are in a meeting."' in text  # James's *31, confirmed
    assert "route=main/manager -> voicemail 1002" in text  # Emily's second call
    # the queue: three callers waiting, each told their place; Emily (a customer of the team)
    # goes ahead of the two strangers; the last asks for a callback
    assert 'Another caller hears over the music: "You are caller number" 2' in text
    assert 'Emily Clark hears over the music: "You are caller number" 1' in text
    assert 'Another caller hears over the music: "You are caller number" 3' in text
    assert "+15550100302   (unknown)       keys=3      route=queue support -> callback" in text
    assert "Emily Clark     IVR call: keys main:3; route queue support; support answered by " \
        "1002" in text
    assert "customer   +15550100302 rings: ivr-app is calling back" in text
    # the callback is a contact of its own: 5 offered, 4 answered, 1 overflow (the key)
    assert re.search(r"^support  5        4         0          1 ", text, re.M)
    assert "ivr-app stopped with exit code 0." in text
