"""Composition root: builds the process's parts once from the configuration and runs them.

``App`` owns the database pool, the control connection to FreeSWITCH, the outbound-socket
listener and the group of live call greenlets. Signals: SIGTERM/SIGINT stop it, letting
live calls finish up to ``service.shutdown_grace_seconds``; SIGHUP reloads the configuration,
keeping the last good one when the new file is invalid.
"""

from __future__ import annotations

import collections
import datetime as dt
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import gevent.pool
from psycopg_pool import ConnectionPool

from ivr_app import config as config_mod
from ivr_app import logs, menus, supervise
from ivr_app import outbox as outbox_mod
from ivr_app.db import external_legs as external_legs_db
from ivr_app.db import migrations
from ivr_app.db import presence as presence_db
from ivr_app.db.pool import connect, make_pool, run_or
from ivr_app.dialplan import site
from ivr_app.digitmap import DialableExtensions, DigitMap
from ivr_app.errors import ConfigError, IvrAppError
from ivr_app.esl.call import Call
from ivr_app.esl.control import ControlConnection
from ivr_app.esl.outbound import OutboundServer
from ivr_app.handlers import ivr, star
from ivr_app.handlers.context import ERROR_TONE, HandlerContext
from ivr_app.menus import MenuSet
from ivr_app.metrics import Metrics
from ivr_app.orphans import OrphanCalls
from ivr_app.outbox.outbox import Outbox
from ivr_app.outbox.replay import Prober
from ivr_app.presence.oncall import OnCallTracker
from ivr_app.presence.publish import PresenceListener
from ivr_app.presence.voicemail import VoicemailService
from ivr_app.prompts import PromptStore, says_numbers
from ivr_app.queue.callbacks import CallbackDialer
from ivr_app.queue.say import SayLanguages
from ivr_app.queue.stats import QueueStatsPublisher
from ivr_app.recording.service import RecordingService
from ivr_app.screenpop import ScreenPop

# Settings read once at start: a reload that changes them is logged as needing a restart.
# what a reload cannot change in a running process: logged as needs_restart (the rest of the
# new configuration applies at once, to every service through its reconfigure)
RESTART_SECTIONS = ("esl", "outbound", "database", "outbox", "metrics")
RESTART_FIELDS = (("recording", "directory"), ("node_name",))


def _field(cfg: config_mod.Config, path: tuple[str, ...]) -> Any:
    value: Any = cfg
    for name in path:
        value = getattr(value, name)
    return value


@dataclass
class App:
    config: config_mod.Config
    config_path: Path | None
    environ: Mapping[str, str]
    log: Any

    def __post_init__(self) -> None:
        self.calls = gevent.pool.Group()
        self.pool: ConnectionPool | None = None
        self.control: ControlConnection | None = None
        self.menus: MenuSet | None = None
        self.prompts: PromptStore | None = None
        self.screen_pop: ScreenPop | None = None
        self.recording: RecordingService | None = None
        self.presence: PresenceListener | None = None
        self.on_call: OnCallTracker | None = None
        self.voicemail: VoicemailService | None = None
        self.queue_stats: QueueStatsPublisher | None = None
        self.callbacks: CallbackDialer | None = None
        self.orphans: OrphanCalls | None = None
        self.say: SayLanguages | None = None
        self.external_legs: collections.Counter[str] = collections.Counter()  # toll-fraud cap
        self.outbound: OutboundServer | None = None
        self.outbox: Outbox | None = None  # every write of a call's path (ivr_app/outbox)
        self.prober: Prober | None = None
        self.metrics = Metrics()
        self.dialable: DialableExtensions | None = None
        self._stop = gevent.event.Event()
        self.reloads = 0
        self.clock = lambda: dt.datetime.now(dt.UTC)  # business hours read it; tests set it

    # -- lifecycle ---------------------------------------------------------------------------

    def load_ivr(self, cfg: config_mod.Config) -> tuple[MenuSet, PromptStore]:
        """The menus and their prompts, checked: a problem here stops the start (or reload)."""
        menu_set = menus.load(cfg.path(cfg.ivr.menus))
        store = PromptStore(cfg.path(cfg.ivr.sounds_dir), cfg.path(cfg.ivr.prompt_cache_dir))
        store.check(menu_set)
        return menu_set, store

    def start(self, telephony: bool = True) -> None:
        cfg = self.config
        supervise.log_hub_errors(self.log)
        self.menus, self.prompts = self.load_ivr(cfg)
        self.pool = make_pool(cfg.database, application_name=cfg.node_name)
        self.pool.open(wait=False)
        self.outbox, self.prober = outbox_mod.start(cfg, self.pool, self.log)
        supervise.spawn(self._check_schema, log=self.log, what="schema check")
        supervise.spawn(self._release_last_runs_legs, dt.datetime.now(dt.UTC), log=self.log,
                        what="external legs of the last run")
        if cfg.metrics.listen:
            self.metrics.serve(cfg.metrics.listen, self.log)
        self.dialable = DialableExtensions(self.pool, self._site_extensions(cfg),
                                           self.log).start()
        if telephony:
            self.control = ControlConnection(
                cfg.esl.host, cfg.esl.port, cfg.esl.password, self.log,
                events=["RECORD_START", "RECORD_STOP", "DTMF", "CHANNEL_ANSWER",
                        "CHANNEL_BRIDGE", "CHANNEL_HANGUP_COMPLETE", "CUSTOM",
                        "vm::maintenance"],
                connect_timeout=cfg.esl.connect_timeout_seconds,
                reconnect_min=cfg.esl.reconnect_min_seconds,
                reconnect_max=cfg.esl.reconnect_max_seconds,
                liveness=cfg.esl.liveness_seconds)
            # before the first connection: rows a killed run left open are closed on it
            self.orphans = OrphanCalls(self.pool, cfg.node_name, self.log).attach(self.control)
            # which of the menus' languages FreeSWITCH can say (asked at every connection)
            self.say = SayLanguages(lambda: self.menus.languages if self.menus is not None
                                    and says_numbers(self.menus) else (), self.log
                                    ).attach(self.control)
            # rows of the dead run that waited in the journal are checked once they are in
            control = self.control
            self.outbox.on_drained.append(
                lambda: supervise.spawn(self.orphans.reconcile, set(control.channels),
                                        log=self.log, what="orphan calls")
                if self.orphans else None)
            self.control.start()
            self.screen_pop = ScreenPop(cfg.screen_pop, self.control, self.log)
            self.recording = RecordingService(cfg, self.pool, self.log,
                                              self.outbox).start(self.control)
            self.presence = PresenceListener(
                lambda: connect(cfg.database, application_name=f"{cfg.node_name}-presence"),
                self.control, cfg.ivr.voicemail_domain, self.log).start()
            self.on_call = OnCallTracker(self.log, self._on_call_changed).attach(self.control)
            self.voicemail = VoicemailService(cfg, self.pool, self.log,
                                              self.outbox).attach(self.control)
            on_call = self.on_call
            self.queue_stats = QueueStatsPublisher(
                lambda: connect(cfg.database, application_name=f"{cfg.node_name}-queue-stats"),
                self.control, lambda: self.menus.queues if self.menus else {},
                on_call.busy_extensions, cfg.queue.stats_interval_seconds, self.log).start()
            self.callbacks = CallbackDialer(
                self.pool, self.control, lambda: self.menus.queues if self.menus else {},
                on_call.busy_extensions, cfg, self.log, clock=lambda: self.clock(),
                outbox=self.outbox).start()
            self.outbound = OutboundServer(cfg.outbound.host, cfg.outbound.port,
                                           self._handle_call, self.log,
                                           max_calls=cfg.outbound.max_calls,
                                           calls=self.calls,
                                           on_failure=self._call_failed).start()
        self.log.info("started", node=cfg.node_name, config=cfg.source,
                      outbound_port=self.outbound.port if self.outbound else None)

    def _handle_call(self, call: Call) -> None:
        """Every call handed over by the dialplan: star codes, or the IVR."""
        ctx = HandlerContext(self.config, self.pool, call.log, menus=self.menus,
                             prompts=self.prompts, screen_pop=self.screen_pop,
                             recording=self.recording, clock=self.clock, outbox=self.outbox,
                             on_call=self.on_call.busy if self.on_call else lambda _ext: False,
                             busy_extensions=self.on_call.busy_extensions if self.on_call
                             else list,
                             external_legs=self.external_legs, say=self.say,
                             digit_map=self.dialable or DigitMap,
                             observe_key_wait=self.metrics.observe_key_wait,
                             control=self.control)
        if call.variable("ivr_app_entry") == "star":
            star.handle(call, ctx)
        else:
            ivr.handle(call, ctx)

    def _release_last_runs_legs(self, started: dt.datetime) -> None:
        """The external legs this node's last run held (a crash) no longer count against
        any employee's cap (db/external_legs.py)."""
        gone = run_or(self.pool, "external legs of the last run", lambda c: external_legs_db
                      .release_node(c, self.config.node_name, started), 0, self.log, wait=10)
        if gone:
            self.log.warning("external legs of the last run released", legs=gone)

    def _call_failed(self, call: Call) -> None:
        """A call whose handler failed: the menus' ``technical_problem`` prompt (or the
        reorder tone) before the dialplan's fallback takes it (OutboundServer._hand_back)."""
        ctx = HandlerContext(self.config, self.pool, call.log, menus=self.menus,
                             prompts=self.prompts)
        language = self.menus.languages[0] if self.menus is not None else "en"
        call.playback(ctx.prompt_or("technical_problem", language, ERROR_TONE), timeout=8)

    def _on_call_changed(self, extension: str, on_call: bool) -> None:
        """The lamp follows: on the phone while busy, their own state again after."""
        if self.presence is None:
            return
        if on_call:
            state = "on_call"
        else:
            state = "available"
            if self.pool is not None:
                try:
                    with self.pool.connection(timeout=1.0) as conn:
                        state = presence_db.current_state(conn, extension)
                except Exception as exc:  # noqa: BLE001 - a lamp must never break a call
                    self.log.warning("state for the lamp unavailable", error=str(exc))
        supervise.spawn(self.presence.publish, extension, state, log=self.log, what="lamp")

    def _site_extensions(self, cfg: config_mod.Config) -> tuple[str, ...]:
        """The site's extensions (dialplan.site), for the menus' digit map; the employees'
        come from PostgreSQL, so a site file this node cannot read only costs a warning."""
        try:
            return site.load(cfg.path(cfg.dialplan.site)).extensions
        except ConfigError as exc:
            self.log.warning("site numbers not read: the digit map knows the employees' "
                             "extensions only", problem=exc.problems[0])
            return ()

    def _check_schema(self) -> None:
        assert self.pool is not None
        try:
            with self.pool.connection() as conn:
                todo = migrations.pending(conn, migrations.default_directory())
        except IvrAppError as exc:
            self.log.error("schema check failed", error=str(exc), code=exc.code)
            return
        except Exception as exc:  # noqa: BLE001 - a DB outage at start must not kill the process
            self.log.warning("database not reachable yet", error=str(exc))
            return
        if todo:
            self.log.warning("pending migrations: run `ivr-app db migrate`",
                             pending=[m.filename for m in todo])
        else:
            self.log.info("database schema up to date")

    def request_stop(self) -> None:
        self._stop.set()

    def reload(self) -> bool:
        """Re-read the configuration file; on any problem keep the running configuration."""
        self.reloads += 1
        try:
            new = config_mod.load(self.config_path, self.environ)
            new_menus, new_prompts = self.load_ivr(new)
        except ConfigError as exc:
            for problem in exc.problems:
                self.log.error("config reload rejected, keeping the last good config",
                               problem=problem)
            return False
        needs_restart = [s for s in RESTART_SECTIONS
                         if getattr(new, s) != getattr(self.config, s)]
        needs_restart += [".".join(f) for f in RESTART_FIELDS
                          if _field(new, f) != _field(self.config, f)]
        self.config = new
        self.menus, self.prompts = new_menus, new_prompts  # new calls get the new menus
        for service in (self.recording, self.callbacks, self.voicemail, self.screen_pop,
                        self.queue_stats, self.presence):
            if service is not None:
                service.reconfigure(new)
        if self.dialable is not None:
            self.dialable.site_extensions = self._site_extensions(new)
            supervise.spawn(self.dialable.refresh, log=self.log, what="digit map")
        logs.configure(new.logging.level, new.logging.format)
        self.log.info("config reloaded", config=new.source,
                      needs_restart=needs_restart or None)
        return True

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; returns the process exit code."""
        handlers = [
            gevent.signal_handler(signal.SIGTERM, self.request_stop),
            gevent.signal_handler(signal.SIGINT, self.request_stop),
            gevent.signal_handler(signal.SIGHUP, lambda: supervise.spawn(
                self.reload, log=self.log, what="reload")),
        ]
        try:
            self.start()
            self.log.info("ready")
            self._stop.wait()
            self.shutdown()
        finally:
            for h in handlers:
                h.cancel()
        return 0

    def shutdown(self) -> None:
        grace = self.config.service.shutdown_grace_seconds
        if self.outbound is not None:
            self.outbound.close()  # no new calls; the live ones may finish
        live = len(self.calls)
        self.log.info("stopping", live_calls=live, grace_seconds=grace)
        if live:
            self.calls.join(timeout=grace)
            if len(self.calls):
                self.log.warning("grace period over, cutting calls", cut=len(self.calls))
                self.calls.kill(block=True, timeout=5)
        if self.recording is not None:
            self.recording.stop()  # what is queued goes to PostgreSQL or the journal
        if self.prober is not None:
            self.prober.stop()  # what waits in the journal is replayed at the next start
        if self.presence is not None:
            self.presence.stop()
        if self.queue_stats is not None:
            self.queue_stats.stop()
        if self.callbacks is not None:
            self.callbacks.stop()  # a callback being dialled goes on in FreeSWITCH
        if self.control is not None:
            self.control.stop()
        if self.dialable is not None:
            self.dialable.stop()
        self.metrics.stop()
        if self.pool is not None:
            self.pool.close(timeout=5)
        self.log.info("stopped")
