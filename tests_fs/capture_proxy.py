"""Recording the real outbound-socket traffic of the scenarios, in the format of
../shared/fs-captures (capture.py): FreeSWITCH's ``socket`` application connects here, every
byte is passed on to ivr-app serve and back, and each connection is written as
``transcript.jsonl`` (one JSON object per ``recv(4096)`` from FreeSWITCH, "rx", and per
``sendall`` of ivr-app's bytes, "tx"), ``rx.bin`` and ``tx.bin``.

With IVR_APP_FS_CAPTURE_DIR set, ``make test-fs`` puts the proxy on the dialplan's outbound port
and serve behind it; the captures chosen for CI go to tests/fixtures/fs-captures (real-*/).
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from pathlib import Path
from typing import Any

import gevent
from gevent.server import StreamServer


class CaptureProxy:
    def __init__(self, listen_port: int, target_port: int, directory: Path):
        self.target_port, self.directory = target_port, directory
        self.label = "call"
        self.count = 0
        self.server = StreamServer(("127.0.0.1", listen_port), self._handle)

    def start(self) -> CaptureProxy:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop(timeout=2)

    def _handle(self, fs_sock: socket.socket, _addr: Any) -> None:
        self.count += 1
        where = self.directory / f"{self.label}-{self.count}"
        where.mkdir(parents=True, exist_ok=True)
        app_sock = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
        app_sock.settimeout(None)
        started = time.monotonic()
        records: list[dict[str, Any]] = []

        def pump(src: socket.socket, dst: socket.socket, direction: str) -> None:
            while True:
                try:
                    data = src.recv(4096)
                except OSError:
                    data = b""
                records.append({"t": round(time.monotonic() - started, 6), "dir": direction,
                                "data": data.decode("latin-1")})
                if not data:
                    with contextlib.suppress(OSError):
                        dst.shutdown(socket.SHUT_WR)
                    return
                try:
                    dst.sendall(data)
                except OSError:
                    return

        both = [gevent.spawn(pump, fs_sock, app_sock, "rx"),
                gevent.spawn(pump, app_sock, fs_sock, "tx")]
        gevent.joinall(both, timeout=600)
        for s in (fs_sock, app_sock):
            s.close()
        with (where / "transcript.jsonl").open("w", encoding="ascii") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")
        for direction in ("rx", "tx"):
            (where / f"{direction}.bin").write_bytes(b"".join(
                r["data"].encode("latin-1") for r in records if r["dir"] == direction))
