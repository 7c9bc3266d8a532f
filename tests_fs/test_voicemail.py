"""Voicemail on a real FreeSWITCH: an employee who does not answer, mod_voicemail records the
message, ivr-app stores it (vm::maintenance) and does not take mod_voicemail's own RECORD_STOP
for a call recording; the notice goes to the webhook and, as an e-mail with the message
attached, to the employee."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests_fs.sip import wait_for
from tests_fs.test_ivr import DID, EMILY


def test_a_message_for_an_employee_who_does_not_answer(lab, sip, tmp_path):
    speech = tmp_path / "speech.wav"  # mod_voicemail ends a silent message at once
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-e", "u-law", str(speech),
                    "synth", "30", "sine", "300:900"], check=True)
    sip.phone("1002", answer_after=None)
    mark = lab.monitor.mark()
    # 1002# at once; the desk rings out (8 s, tests_fs/data.yaml), the mailbox, 10 s of message
    caller = sip.call(DID, number=EMILY, name="Emily Clark", keys=[(1.0, "info", "1002#")],
                      hangup_after=8 + 2 + 10, speak=speech)
    uuid = lab.monitor.channel(mark, f"sofia/external/{EMILY}@")
    assert caller.wait(60) is not None
    with lab.db() as db:
        row = wait_for(lambda: db.execute(
            """SELECT e.extension, c.name, v.seconds, v.path FROM voicemails v
               JOIN employees e ON e.id = v.employee_id
               LEFT JOIN customers c ON c.id = v.customer_id WHERE v.call_uuid = %s""",
            (uuid,)).fetchone(), 20, "the voicemail row")
        recordings = db.execute("SELECT path FROM recordings WHERE call_uuid = %s",
                                (uuid,)).fetchall()
    extension, customer, seconds, _path = row
    assert (extension, customer) == ("1002", "Emily Clark")
    assert seconds >= 3
    stops = lab.monitor.since(mark, "RECORD_STOP", Unique_ID=uuid)
    assert stops, "mod_voicemail's own RECORD_STOP (the real run's stray recordings rows)"
    assert recordings == []
    notice = wait_for(lambda: [n for n in lab.notices if n.get("mailbox") == "1002"], 20,
                      "the voicemail notice (webhook)")
    assert notice[0]["customer"] == "Emily Clark"


def test_the_voicemail_e_mail_reaches_the_employee_with_the_message_attached(lab, sip,
                                                                              tmp_path):
    """presence.smtp_host: the employee with an e-mail address (James, tests_fs/data.yaml)
    gets the message as an e-mail at the lab's SMTP sink, the WAV mod_voicemail kept
    attached byte for byte."""
    speech = tmp_path / "speech.wav"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-e", "u-law", str(speech),
                    "synth", "30", "sine", "300:900"], check=True)
    sip.phone("1002", answer_after=None)
    mark = lab.monitor.mark()
    before = len(lab.mails)
    caller = sip.call(DID, number="+15550006666", name="Pat Caller",
                      keys=[(1.0, "info", "1002#")], hangup_after=8 + 2 + 10, speak=speech)
    uuid = lab.monitor.channel(mark, "sofia/external/+15550006666@")
    assert caller.wait(60) is not None
    with lab.db() as db:
        seconds, path = wait_for(lambda: db.execute(
            "SELECT seconds, path FROM voicemails WHERE call_uuid = %s", (uuid,)).fetchone(),
            20, "the voicemail row")
    mail = wait_for(lambda: lab.mails[before:], 20, "the voicemail e-mail")[0]
    assert mail.recipients == ["james.wilson@example.test"]
    message = mail.message
    assert message["To"] == "james.wilson@example.test"
    assert message["Subject"] == "Voicemail from Pat Caller (+15550006666)"
    assert f"voicemail of {seconds} s" in message.get_body(("plain",)).get_content()
    attached = [part for part in message.iter_attachments()]
    assert [(a.get_content_type(), a.get_filename()) for a in attached] == \
        [("audio/wav", Path(path).name)]
    assert attached[0].get_content() == Path(path).read_bytes()
