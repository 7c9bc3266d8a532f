"""Recording on a real FreeSWITCH: the employee presses *2 on their own phone during the
conversation (SIP INFO) and ivr-app records the rest of the call; a policy recording starts
after the consent prompt, and *3 / *3 mask and unmask it (silence in the file)."""

from __future__ import annotations

import subprocess
import wave

from tests_fs.sip import wait_for
from tests_fs.test_ivr import DID, EMILY, call_through


def test_star_2_from_the_employees_phone_records_the_rest_of_the_call(lab, sip):
    sip.phone("1002", answer_after=0.5, press="*2", press_after=1.0, talk=6)
    uuid = call_through(lab, sip, EMILY, 60, name="Emily Clark",
                        keys=[(1.0, "info", "1002#")])
    with lab.db() as db:
        rec = wait_for(lambda: db.execute(
            "SELECT status, reason, key_presses, bytes FROM recordings WHERE call_uuid = %s",
            (uuid,)).fetchone(), 20, "the on-demand recording attached")
    status, reason, presses, size = rec
    assert status == "complete"
    assert reason == "on demand by 1002"
    assert [p.get("keys") or p.get("key") for p in presses][:1] == ["*2"]
    assert size > 44  # more than a WAV header


def _silent_runs(path: str, frame_ms: int = 10) -> tuple[list[tuple[float, float]], float]:
    """Runs of frames that are all zero on every channel, (start s, end s), and the length."""
    with wave.open(path) as w:
        rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
        data = w.readframes(w.getnframes())
    assert width == 2
    step = rate * frame_ms // 1000 * channels * width
    runs, start = [], None
    n = len(data) // step
    for i in range(n):
        silent = not any(data[i * step:(i + 1) * step])
        if silent and start is None:
            start = i
        elif not silent and start is not None:
            runs.append((start * frame_ms / 1000, i * frame_ms / 1000))
            start = None
    if start is not None:
        runs.append((start * frame_ms / 1000, n * frame_ms / 1000))
    return runs, n * frame_ms / 1000


def test_consent_first_then_star_3_masks_and_star_3_unmasks(lab, sip, tmp_path):
    """Rita's calls are recorded (recording.employees): the caller hears the consent prompt
    to its end before RECORD_START. Mid-call Rita presses *3 (mask) and 3 s later *3 again
    (unmask) on her phone: the WAV is all zeros exactly while masked (FreeSWITCH writes
    null frames, switch_ivr_async.c record_callback), and the caller's tone everywhere else."""
    from tests_fs.conftest import MEASURED

    tone = tmp_path / "tone.wav"  # the caller speaks all the time: silence means masked
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-e", "u-law", str(tone),
                    "synth", "40", "sine", "400", "vol", "0.5"], check=True)
    sip.phone("1005", answer_after=0.5, press="*3", press_after=2.5, then=((3.0, "*3"),),
              talk=3)
    mark = lab.monitor.mark()
    caller = sip.call(DID, number="+15550007777", name="Card Reader",
                      keys=[(1.0, "info", "1005#")], speak=tone, max_seconds=60)
    uuid = lab.monitor.channel(mark, "sofia/external/+15550007777@")
    assert caller.wait(60) is not None
    consent = lab.prompt_path("recording_consent")
    events = lab.monitor.events[mark:]
    started = next(i for i, e in enumerate(events) if e.name == "PLAYBACK_START" and
                   e.unique_id == uuid and e.get("Playback-File-Path") == consent)
    stopped = next(i for i, e in enumerate(events) if e.name == "PLAYBACK_STOP" and
                   e.unique_id == uuid and e.get("Playback-File-Path") == consent)
    recording = next(i for i, e in enumerate(events) if e.name == "RECORD_START" and
                     e.unique_id == uuid)
    assert started < stopped < recording
    with lab.db() as db:
        rec = wait_for(lambda: db.execute(
            "SELECT path, status, reason, key_presses FROM recordings WHERE call_uuid = %s",
            (uuid,)).fetchone(), 20, "the recording attached")
    path, status, reason, presses = rec
    assert (status, reason) == ("complete", "employee 1005")
    assert [(p["key"], p["action"]) for p in presses] == [("*3", "mask"), ("*3", "unmask")]
    # where the masked stretch should be: the '3' of each *3 (DTMF on Rita's leg), counted
    # from RECORD_START
    leg = lab.monitor.channel(mark, "sofia/internal/1005@")

    def at(e) -> float:
        return int(e.get("Event-Date-Timestamp") or 0) / 1e6

    threes = [at(e) for e in lab.monitor.since(mark, "DTMF", Unique_ID=leg)
              if e.get("DTMF-Digit") == "3"]
    assert len(threes) == 2, threes
    origin = at(events[recording])
    mask_at, unmask_at = threes[0] - origin, threes[1] - origin
    runs, length = _silent_runs(path)
    longest = max(runs, key=lambda r: r[1] - r[0])
    MEASURED.append(f"*3 mask / *3 unmask: zeros from {longest[0]:.2f} to {longest[1]:.2f} s "
                    f"of {length:.2f} s; keys at {mask_at:.2f} / {unmask_at:.2f} s")
    tolerance = 0.3  # the key's DTMF event, ivr-app's uuid_record, the media bug's next frame
    assert abs(longest[0] - mask_at) <= tolerance, (longest, mask_at)
    assert abs(longest[1] - unmask_at) <= tolerance, (longest, unmask_at)
    # outside the masked stretch: hardly any silent frame (the caller's tone is recorded)
    outside = sum(b - a for a, b in runs if (a, b) != longest)
    assert outside <= 0.2, runs
    assert length - (longest[1] - longest[0]) >= 4.0  # sound before and after it
