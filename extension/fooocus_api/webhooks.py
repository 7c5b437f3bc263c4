"""Webhooks: when a task ends, its final record is POSTed to the task's webhook.

Deliveries run on a thread of their own, so neither the event loop nor Fooocus's
worker waits for a receiver. A delivery that fails (no connection, a timeout,
any status but 2xx) is tried again after `backoff`, `2 * backoff`, ... seconds,
`tries` times in all; redirects are not followed. Each delivery's outcome
(`attempts`, last `status`, last `error`, `delivered`) is kept in the task's
record under `webhook`. Deliveries that had not ended when the process stopped
are sent at the next start, as are those of tasks marked `interrupted` then.

With `--webhook-secret`, each attempt carries

    X-Fooocus-Timestamp: <unix seconds>
    X-Fooocus-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
    X-Fooocus-Delivery: <id, the same for every attempt of one delivery>

A receiver recomputes the HMAC over the raw body, compares it in constant time,
rejects a timestamp more than 5 minutes from its own clock (a replay), and may
drop a delivery id it has already seen.
"""
from __future__ import annotations

import hashlib
import heapq
import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from .outbound import OutboundPolicy, OutboundRefused

logger = logging.getLogger("fooocus_api")

TIMEOUT_SECONDS = 10.0
SENDERS = 8


@dataclass
class Delivery:
    task_id: str
    url: str
    body: bytes
    delivery_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    attempts: int = 0
    status: int | None = None
    error: str | None = None
    delivered: bool = False

    def outcome(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if key not in ("body",)}


OnOutcome = Callable[[str, dict[str, Any]], None]


class Webhooks:
    def __init__(self, policy: OutboundPolicy, tries: int, backoff: float,
                 secret: str | None, on_outcome: OnOutcome) -> None:
        self._policy = policy
        self._tries = tries
        self._backoff = backoff
        self._secret = secret
        self._on_outcome = on_outcome
        self._due: list[tuple[float, int, Delivery]] = []
        self._counter = 0
        self._wake = threading.Condition()
        # Attempts run side by side, so one receiver that hangs delays no other task's webhook.
        self._senders = ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="fooocus_api-webhook")
        threading.Thread(target=self._loop, name="fooocus_api-webhooks", daemon=True).start()

    def send(self, task_id: str, url: str, record: dict[str, Any]) -> None:
        body = json.dumps(record).encode()
        self._schedule(Delivery(task_id, url, body), delay=0.0)

    def _schedule(self, delivery: Delivery, delay: float) -> None:
        with self._wake:
            self._counter += 1
            heapq.heappush(self._due, (time.monotonic() + delay, self._counter, delivery))
            self._wake.notify()

    def _loop(self) -> None:
        while True:
            self._senders.submit(self._deliver, self._next_due())

    def _deliver(self, delivery: Delivery) -> None:
        self._attempt(delivery)
        if delivery.delivered or delivery.attempts >= self._tries:
            self._finish(delivery)
        else:
            self._on_outcome(delivery.task_id, delivery.outcome())
            self._schedule(delivery, self._backoff * 2 ** (delivery.attempts - 1))

    def _next_due(self) -> Delivery:
        with self._wake:
            while True:
                if self._due:
                    due, _, delivery = self._due[0]
                    wait = due - time.monotonic()
                    if wait <= 0:
                        heapq.heappop(self._due)
                        return delivery
                    self._wake.wait(wait)
                else:
                    self._wake.wait()

    def _attempt(self, delivery: Delivery) -> None:
        delivery.attempts += 1
        try:
            with self._policy.stream("POST", delivery.url, TIMEOUT_SECONDS,
                                     content=delivery.body,
                                     headers=self._headers(delivery)) as response:
                delivery.status = response.status_code
                delivery.delivered = 200 <= response.status_code < 300
                delivery.error = None if delivery.delivered else f"HTTP {response.status_code}"
        except (OutboundRefused, httpx.HTTPError) as error:
            delivery.status = None
            delivery.error = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__

    def _headers(self, delivery: Delivery) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "X-Fooocus-Delivery": delivery.delivery_id}
        if self._secret:
            timestamp = str(int(time.time()))
            headers["X-Fooocus-Timestamp"] = timestamp
            headers["X-Fooocus-Signature"] = "sha256=" + sign(self._secret, timestamp,
                                                              delivery.body)
        return headers

    def _finish(self, delivery: Delivery) -> None:
        self._on_outcome(delivery.task_id, delivery.outcome())
        if delivery.delivered:
            logger.info("task %s: webhook delivered (%d attempt(s))", delivery.task_id,
                        delivery.attempts)
        else:
            logger.warning("task %s: webhook to %s gave up after %d attempt(s): %s",
                           delivery.task_id, delivery.url, delivery.attempts, delivery.error)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    message = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
