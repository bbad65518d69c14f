"""What keeps the server up and responsive: its listening socket, a bounded inference queue
and Prometheus metrics."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from propscope.errors import InputError

T = TypeVar("T")

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (port 0: any free one), so that a bad address or a port
    in use is reported before the model loads and before the server says it is up."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise InputError(f"--host {host}: not an address of this machine ({exc.strerror})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise InputError(f"{host}:{port}: cannot listen there ({exc.strerror}); choose another --port or --host") from None
    return sock


class QueueFull(Exception):
    """The inference queue is at its limit; the client should retry later."""


class InferenceQueue:
    """Runs model calls off the event loop on ``workers`` threads, with at most ``limit``
    calls waiting or running; beyond that it refuses at once instead of piling up."""

    def __init__(self, *, workers: int, limit: int, initializer: Callable[[], None] | None = None) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="inference", initializer=initializer)
        self.limit = limit
        self.depth = 0

    async def run(self, function: Callable[[], T]) -> T:
        if self.depth >= self.limit:
            raise QueueFull
        self.depth += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, function)
        finally:
            self.depth -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class Metrics:
    """The server's Prometheus metrics, with the standard process, platform and GC metrics,
    in a registry of its own so that several apps can live in one process."""

    def __init__(self, queue: InferenceQueue) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self._requests = Counter("propscope_requests", "HTTP requests by method, route and status.",
                                 ["method", "route", "status"], registry=self.registry)
        self._latency = Histogram("propscope_request_duration_seconds", "Request latency by route.", ["route"],
                                  buckets=LATENCY_BUCKETS, registry=self.registry)
        self._inference = Histogram("propscope_inference_seconds", "Time spent in the model per text.",
                                    buckets=LATENCY_BUCKETS, registry=self.registry)
        Gauge("propscope_queue_depth", "Inference calls waiting or running.",
              registry=self.registry).set_function(lambda: queue.depth)
        Gauge("propscope_queue_limit", "Most inference calls allowed to wait or run.",
              registry=self.registry).set(queue.limit)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self._requests.labels(method, route, str(status)).inc()
        self._latency.labels(route).observe(seconds)

    def observe_inference(self, seconds: float) -> None:
        self._inference.observe(seconds)

    def render(self) -> bytes:
        """The metrics in the Prometheus text format (CONTENT_TYPE_LATEST)."""
        return generate_latest(self.registry)
