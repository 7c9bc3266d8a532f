"""Which calls are recorded: none, all, or those of selected routes, queues and employees."""

from __future__ import annotations

from dataclasses import dataclass

from ivr_app.config import RecordingConfig


@dataclass(frozen=True)
class Policy:
    mode: str
    routes: tuple[str, ...] = ()
    employees: frozenset[str] = frozenset()

    @classmethod
    def from_config(cls, cfg: RecordingConfig) -> Policy:
        return cls(cfg.policy,
                   tuple(r.strip() for r in cfg.routes.split(",") if r.strip()),
                   frozenset(e.strip() for e in cfg.employees.split(",") if e.strip()))

    @property
    def records_all(self) -> bool:
        return self.mode == "all"

    def for_route(self, route: str) -> bool:
        """A selected route is any step of the call's route: "queue support" records a
        caller who got there as "main/manager -> queue support" too."""
        steps = [step.strip() for step in route.split("->")]
        return self.mode == "selected" and any(step.startswith(r) for step in steps
                                               for r in self.routes)

    def for_employee(self, extension: str) -> bool:
        return self.mode == "selected" and extension in self.employees
