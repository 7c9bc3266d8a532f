"""ESL errors. They subclass greenswitch's own exception types, so code written against
greenswitch (``except NotConnectedError``) still catches them."""

from __future__ import annotations

from greenswitch.esl import NotConnectedError, OutboundSessionHasGoneAway

from ivr_app.errors import IvrAppError


class EslError(IvrAppError):
    code = "esl-error"


class ConnectionLost(EslError, NotConnectedError):
    """The socket closed (or was closed) while something waited on it."""

    code = "esl-not-connected"


class CommandTimeout(EslError):
    """No reply in time. The reply FIFO is then out of step, so the connection is closed."""

    code = "esl-timeout"


class CommandFailed(EslError):
    """FreeSWITCH answered ``-ERR ...``."""

    code = "esl-command-failed"

    def __init__(self, command: str, reply: str):
        self.command, self.reply = command, reply
        super().__init__(f"{command}: {reply}")


class AuthFailed(EslError):
    code = "esl-auth-failed"


class CallEnded(EslError, OutboundSessionHasGoneAway):
    """The caller hung up (or the call was otherwise torn down): the call flow is over.

    Raised by the next command or wait of a call whose channel has hung up; caught in exactly
    one place, the outbound server's call runner."""

    code = "call-ended"

    def __init__(self, uuid: str, cause: str | None):
        self.uuid, self.cause = uuid, cause
        super().__init__(f"call {uuid} ended ({cause or 'connection closed'})")
