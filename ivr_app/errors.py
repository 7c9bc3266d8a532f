"""The small, typed exception hierarchy of ivr-app.

Each error has a stable ``code`` (for logs and monitoring) and a process exit code, so the CLI
and the service fail in predictable ways. Libraries raise these; only the CLI turns them into an
exit status.
"""

from __future__ import annotations

from collections.abc import Iterable


class IvrAppError(Exception):
    code = "ivr-app-error"
    exit_code = 1


class ConfigError(IvrAppError):
    """A configuration or data file is invalid. ``problems`` holds one line per problem."""

    code = "invalid-config"
    exit_code = 2

    def __init__(self, problems: Iterable[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class MigrationError(IvrAppError):
    code = "migration-refused"
    exit_code = 3


class DatabaseUnavailable(IvrAppError):
    code = "database-unavailable"
    exit_code = 4


class NotFound(IvrAppError):
    code = "not-found"
    exit_code = 5


class DeployFailed(IvrAppError):
    """FreeSWITCH refused or could not confirm a dialplan; the previous one is back."""

    code = "deploy-failed"
    exit_code = 7


class FreeSwitchUnavailable(IvrAppError):
    code = "freeswitch-unavailable"
    exit_code = 8


class ChecksumMismatch(IvrAppError):
    code = "checksum-mismatch"
    exit_code = 9


class UsageError(IvrAppError):
    """A command line that cannot mean anything (an empty period, ...)."""

    code = "usage"
    exit_code = 10
