"""What keeps the server responsive: a bounded inference queue and Prometheus metrics."""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class QueueFull(Exception):
    """The inference queue is at its limit; the client should retry later."""


class InferenceQueue:
    """Runs model calls off the event loop on ``workers`` threads, with at most ``limit``
    calls waiting or running; beyond that it refuses at once instead of piling up."""

    def __init__(self, *, workers: int, limit: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="inference")
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


class Histogram:
    def __init__(self) -> None:
        self.counts = [0] * len(LATENCY_BUCKETS)
        self.total = 0.0
        self.n = 0

    def observe(self, seconds: float) -> None:
        self.n += 1
        self.total += seconds
        for index, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.counts[index] += 1

    def lines(self, name: str, labels: str) -> list[str]:
        prefix = f"{labels}," if labels else ""
        rows = [f'{name}_bucket{{{prefix}le="{bound}"}} {count}' for bound, count in zip(LATENCY_BUCKETS, self.counts)]
        rows.append(f'{name}_bucket{{{prefix}le="+Inf"}} {self.n}')
        suffix = f"{{{labels}}}" if labels else ""
        return [*rows, f"{name}_sum{suffix} {self.total:.6f}", f"{name}_count{suffix} {self.n}"]


class Metrics:
    """Counters and histograms rendered in the Prometheus text format."""

    def __init__(self, queue: InferenceQueue) -> None:
        self._lock = threading.Lock()
        self._queue = queue
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.latency: dict[str, Histogram] = defaultdict(Histogram)
        self.inference = Histogram()

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, route, status)] += 1
            self.latency[route].observe(seconds)

    def observe_inference(self, seconds: float) -> None:
        with self._lock:
            self.inference.observe(seconds)

    def render(self) -> str:
        with self._lock:
            lines = ["# HELP propscope_requests_total HTTP requests by method, route and status.",
                     "# TYPE propscope_requests_total counter"]
            lines += [f'propscope_requests_total{{method="{m}",route="{r}",status="{s}"}} {n}'
                      for (m, r, s), n in sorted(self.requests.items())]
            lines += ["# HELP propscope_request_duration_seconds Request latency by route.",
                      "# TYPE propscope_request_duration_seconds histogram"]
            for route, histogram in sorted(self.latency.items()):
                lines += histogram.lines("propscope_request_duration_seconds", f'route="{route}"')
            lines += ["# HELP propscope_inference_seconds Time spent in the model per text.",
                      "# TYPE propscope_inference_seconds histogram",
                      *self.inference.lines("propscope_inference_seconds", ""),
                      "# HELP propscope_queue_depth Inference calls waiting or running.",
                      "# TYPE propscope_queue_depth gauge",
                      f"propscope_queue_depth {self._queue.depth}",
                      "# HELP propscope_queue_limit Most inference calls allowed to wait or run.",
                      "# TYPE propscope_queue_limit gauge",
                      f"propscope_queue_limit {self._queue.limit}"]
        return "\n".join(lines) + "\n"
