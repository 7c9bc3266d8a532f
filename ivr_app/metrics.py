"""The service's metrics in the Prometheus format (prometheus-client: the exposition format,
histograms and a WSGI app, kept by the Prometheus project, rather than hand-written text).

One registry per running app (no process-global collectors); ``metrics.listen`` serves it on
``/metrics``. The caller's wait after a menu key is the first figure here (issue 20).
"""

from __future__ import annotations

import logging
from typing import Any

from gevent.pywsgi import WSGIServer
from prometheus_client import CollectorRegistry, Histogram, make_wsgi_app

# the goal is p95 <= 150 ms for a key that acts at once; waiting keys add inter_digit_ms
KEY_WAIT_BUCKETS = (0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0, 2.5, 3.0, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.key_wait = Histogram(
            "ivr_app_menu_key_wait_seconds",
            "From the caller's key (FreeSWITCH's DTMF event) to the start of the next prompt",
            ["menu", "waited"], buckets=KEY_WAIT_BUCKETS, registry=self.registry)
        self._server: WSGIServer | None = None

    def observe_key_wait(self, menu: str, waited: bool, seconds: float) -> None:
        self.key_wait.labels(menu=menu, waited="yes" if waited else "no").observe(seconds)

    def serve(self, listen: str, log: Any) -> WSGIServer:
        """Serve ``/metrics`` on ``host:port`` (port 0: any free port; see .port)."""
        host, _, port = listen.rpartition(":")
        app = make_wsgi_app(self.registry)

        def only_metrics(environ: dict, start_response: Any) -> Any:
            if environ.get("PATH_INFO") != "/metrics":
                start_response("404 Not Found", [("Content-Type", "text/plain")])
                return [b"only /metrics here\n"]
            return app(environ, start_response)

        self._server = WSGIServer((host.strip("[]") or "127.0.0.1", int(port)), only_metrics,
                                  log=None,
                                  error_log=logging.getLogger("ivr_app.metrics"))
        self._server.start()
        log.info("metrics served", listen=f"{host}:{self._server.server_port}")
        return self._server

    @property
    def port(self) -> int | None:
        return self._server.server_port if self._server else None

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(timeout=1)
