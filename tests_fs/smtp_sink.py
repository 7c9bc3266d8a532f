"""A local SMTP server for the lab: it takes every message and keeps it (no relaying).

Enough of RFC 5321 for smtplib: greeting, EHLO / HELO, MAIL, RCPT, DATA (dot-unstuffed),
RSET, NOOP, QUIT. Each message is kept parsed (``email.message.EmailMessage``) with its
envelope. A gevent StreamServer on a free loopback port, like the lab's webhook.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from gevent.server import StreamServer


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: EmailMessage


@dataclass
class SmtpSink:
    mails: list[Mail] = field(default_factory=list)
    server: StreamServer | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.server_port

    def start(self) -> SmtpSink:
        self.server = StreamServer(("127.0.0.1", 0), self._session)
        self.server.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(timeout=2)

    def _session(self, sock: Any, _address: Any) -> None:
        sock.settimeout(30)
        f = sock.makefile("rwb")

        def say(line: str) -> None:
            f.write(line.encode() + b"\r\n")
            f.flush()

        say("220 ivr-app-test-fs SMTP sink")
        sender, recipients = "", []
        try:
            while True:
                raw = f.readline(4096)
                if not raw:
                    return
                command = raw.decode(errors="replace").strip()
                verb = command.split(" ", 1)[0].upper()
                if verb in ("EHLO", "HELO"):
                    say("250 ivr-app-test-fs")
                elif verb == "MAIL":
                    sender, recipients = command.split(":", 1)[1].strip().strip("<>"), []
                    say("250 OK")
                elif verb == "RCPT":
                    recipients.append(command.split(":", 1)[1].strip().strip("<>"))
                    say("250 OK")
                elif verb == "DATA":
                    say("354 end with <CRLF>.<CRLF>")
                    lines = []
                    while (line := f.readline(1 << 20)) not in (b".\r\n", b".\n", b""):
                        lines.append(line[1:] if line.startswith(b"..") else line)
                    message = email.message_from_bytes(b"".join(lines),
                                                       policy=email.policy.default)
                    assert isinstance(message, EmailMessage)
                    self.mails.append(Mail(sender, recipients, message))
                    say("250 OK kept")
                elif verb in ("RSET", "NOOP"):
                    say("250 OK")
                elif verb == "QUIT":
                    say("221 bye")
                    return
                else:
                    say("502 not implemented")
        except OSError:
            return
        finally:
            f.close()
            sock.close()
