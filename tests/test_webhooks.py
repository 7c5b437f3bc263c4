"""Webhooks: when a task ends, its final record is POSTed to a receiver, signed,
retried, and the delivery's outcome is kept in the task's record."""
from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from fooocus_server import GENERATE, FooocusServer, start_server, wait_for_end
from webhook_receiver import PLUGIN_TIMEOUT_SECONDS, Delivery, Receiver, settled

SECRET = "webhook-secret"
TRIES = 3
BACKOFF_SECONDS = 0.2
REPLAY_WINDOW_SECONDS = 300


# -- what a receiver would do with the signature, as the README describes it -------------------

def verify_signature(secret: str, headers: dict[str, str], body: bytes, now: float) -> bool:
    """True for a delivery signed with `secret` whose timestamp is within 5 minutes of `now`."""
    timestamp = headers.get("X-Fooocus-Timestamp", "")
    signature = headers.get("X-Fooocus-Signature", "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > REPLAY_WINDOW_SECONDS:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest("sha256=" + expected.hexdigest(), signature)


# -- helpers -----------------------------------------------------------------------------------


def submit(client: httpx.Client, **body: Any) -> str:
    reply = client.post(GENERATE, json={"async_process": True, "image_number": 1, **body})
    assert reply.status_code == 200, reply.text
    return reply.json()["task_id"]


def delivery_outcome(client: httpx.Client, task_id: str, timeout: float = 20) -> dict:
    """The record's `webhook` once the delivery has ended (delivered, or given up)."""
    def ended() -> dict | None:
        outcome = client.get(f"/tasks/{task_id}").json().get("webhook")
        if outcome and (outcome["delivered"] or outcome["attempts"] >= TRIES):
            return outcome
        return None

    outcome = settled(ended, timeout)
    assert outcome, f"the webhook of task {task_id} did not end within {timeout} s"
    return outcome


def saved_row(server: FooocusServer, task_id: str) -> dict | None:
    """The task's row in outputs/db.sqlite3: its status and `webhook`, or None."""
    connection = sqlite3.connect(server.checkout / "outputs" / "db.sqlite3")
    try:
        row = connection.execute("SELECT task_status, webhook FROM tasks WHERE task_id = ?",
                                 (task_id,)).fetchone()
    finally:
        connection.close()
    if row is None:
        return None
    return {"task_status": row[0], "webhook": json.loads(row[1]) if row[1] else None}


def saved_webhook(server: FooocusServer, task_id: str) -> dict | None:
    row = saved_row(server, task_id)
    return row["webhook"] if row else None


def wait_until_running(client: httpx.Client, task_id: str) -> None:
    running = settled(
        lambda: client.get(f"/tasks/{task_id}").json()["task_status"] == "running", 20)
    assert running, f"task {task_id} did not start"


# -- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory,
           receiver: Receiver) -> Iterator[FooocusServer]:
    """Signed webhooks, 3 tries 0.2 s apart, a default URL, the receiver's host allowed."""
    running = start_server(
        tmp_path_factory.mktemp("webhooks"),
        flags=["--api-allow-hosts", "127.0.0.1", "--webhook-url", receiver.url("/default"),
               "--webhook-secret", SECRET, "--webhook-tries", str(TRIES),
               "--webhook-backoff", str(BACKOFF_SECONDS)],
        env={"FOOOCUS_STANDIN_STEP_SECONDS": "0.02", "FOOOCUS_STANDIN_STEPS": "4"})
    yield running
    running.stop()


@pytest.fixture(scope="module")
def signed_delivery(server: FooocusServer, receiver: Receiver) -> Delivery:
    with server.client() as client:
        task_id = submit(client, prompt="signed", webhook_url=receiver.url("/signed"))
    return receiver.wait_for("/signed", task_id=task_id)[0]


# -- what is delivered -------------------------------------------------------------------------

def test_finished_task_posts_its_final_record_as_a_json_object(client, server, receiver):
    task_id = submit(client, prompt="a lighthouse", webhook_url=receiver.url("/finished"))

    delivery = receiver.wait_for("/finished")[0]

    assert delivery.headers["Content-Type"] == "application/json"
    record = delivery.record
    assert isinstance(record, dict), f"the body is a JSON {type(record).__name__}, not an object"
    assert record["task_id"] == task_id
    assert record["task_status"] == "finished"
    assert len(record["result"]) == 1
    assert record["result"][0].startswith(f"{server.url}/outputs/")
    image = client.get(record["result"][0])
    assert image.status_code == 200 and image.content


def test_failed_task_delivers_its_record_with_the_error(client, receiver):
    task_id = submit(client, prompt="standin:raise", webhook_url=receiver.url("/failed"))

    record = receiver.wait_for("/failed")[0].record

    assert record["task_id"] == task_id
    assert record["task_status"] == "failed"
    assert "stand-in failure requested" in record["error"]


def test_canceled_task_delivers_its_record(client, receiver):
    running_id = submit(client, prompt="blocker", overwrite_step=200)
    pending_id = submit(client, prompt="never runs", webhook_url=receiver.url("/canceled"))

    cancel = client.delete(f"/tasks/{pending_id}")
    client.post("/v1/engine/control", json={"action": "stop", "task_id": running_id})
    wait_for_end(client, running_id)

    assert cancel.status_code == 200, cancel.text
    record = receiver.wait_for("/canceled")[0].record
    assert (record["task_id"], record["task_status"]) == (pending_id, "canceled")


def test_default_webhook_url_receives_tasks_that_name_none(client, receiver):
    task_id = submit(client, prompt="no webhook_url of its own")

    record = receiver.wait_for("/default", task_id=task_id)[0].record

    assert record["task_status"] == "finished"
    assert record["webhook_url"] == receiver.url("/default")


# -- retries -----------------------------------------------------------------------------------

def test_webhook_is_retried_after_server_errors_until_delivered(client, receiver):
    receiver.answer("/flaky", 500, 500)
    task_id = submit(client, prompt="flaky receiver", webhook_url=receiver.url("/flaky"))

    outcome = delivery_outcome(client, task_id)

    assert (outcome["delivered"], outcome["attempts"], outcome["status"], outcome["error"]) == \
           (True, 3, 200, None)
    attempts = receiver.received("/flaky")
    assert len(attempts) == 3
    assert len({attempt.headers["X-Fooocus-Delivery"] for attempt in attempts}) == 1
    assert len({attempt.body for attempt in attempts}) == 1


def test_webhook_gives_up_after_the_configured_tries(client, receiver):
    receiver.answer("/down", *[500] * 10)
    task_id = submit(client, prompt="receiver down", webhook_url=receiver.url("/down"))

    outcome = delivery_outcome(client, task_id)

    assert (outcome["delivered"], outcome["attempts"], outcome["status"], outcome["error"]) == \
           (False, TRIES, 500, "HTTP 500")
    assert len(receiver.received("/down")) == TRIES


def test_receiver_slower_than_the_timeout_gets_the_delivery_again(client, receiver):
    receiver.answer("/slow", "slow")
    task_id = submit(client, prompt="slow receiver", webhook_url=receiver.url("/slow"))

    outcome = delivery_outcome(client, task_id, timeout=PLUGIN_TIMEOUT_SECONDS + 15)

    assert (outcome["delivered"], outcome["attempts"], outcome["status"]) == (True, 2, 200)
    first, second = receiver.received("/slow")
    assert first.headers["X-Fooocus-Delivery"] == second.headers["X-Fooocus-Delivery"]
    assert second.received_at - first.received_at >= PLUGIN_TIMEOUT_SECONDS - 0.5


# -- signatures --------------------------------------------------------------------------------

def test_signature_is_hmac_sha256_over_timestamp_and_raw_body(signed_delivery):
    delivery = signed_delivery

    assert delivery.headers["X-Fooocus-Signature"].startswith("sha256=")
    assert verify_signature(SECRET, delivery.headers, delivery.body, delivery.received_at)
    assert not verify_signature("another-secret", delivery.headers, delivery.body,
                                delivery.received_at)
    assert not verify_signature(SECRET, delivery.headers, delivery.body + b" ",
                                delivery.received_at)


def test_receiver_checking_the_timestamp_rejects_a_replayed_delivery(signed_delivery):
    delivery = signed_delivery
    sent_at = int(delivery.headers["X-Fooocus-Timestamp"])
    replayed_later = delivery.received_at + REPLAY_WINDOW_SECONDS + 1
    restamped = {**delivery.headers, "X-Fooocus-Timestamp": str(int(replayed_later))}

    assert abs(sent_at - delivery.received_at) < 5
    assert verify_signature(SECRET, delivery.headers, delivery.body, delivery.received_at)
    assert not verify_signature(SECRET, delivery.headers, delivery.body, replayed_later)
    assert not verify_signature(SECRET, restamped, delivery.body, replayed_later)


# -- clients that go away, and a process that dies ---------------------------------------------

def test_stream_client_that_disconnects_leaves_the_task_to_finish_and_deliver(server, receiver):
    body = {"prompt": "nobody is watching", "overwrite_step": 60, "stream_output": True,
            "webhook_url": receiver.url("/stream")}
    with server.client() as client:
        with client.stream("POST", GENERATE, json=body) as reply:
            first_event = next(line for line in reply.iter_lines() if line.startswith("data:"))
            running = client.get("/tasks", params={"query": "current"}).json()["current"]

        assert json.loads(first_event[len("data:"):])["progress"] >= 0
        assert [task["req_params"]["prompt"] for task in running] == ["nobody is watching"]
        task_id = running[0]["task_id"]
        record = wait_for_end(client, task_id)
        history = client.get("/tasks", params={"query": "history", "page_size": 5}).json()

    assert record["task_status"] == "finished"
    assert task_id in [task["task_id"] for task in history["history"]]
    delivered = receiver.wait_for("/stream")[0].record
    assert (delivered["task_id"], delivered["task_status"]) == (task_id, "finished")


@dataclass
class Crash:
    retried_id: str
    given_up_id: str
    cut_off_id: str
    restarted_at: float


@pytest.fixture(scope="module")
def crash(server: FooocusServer, receiver: Receiver) -> Crash:
    """Two tasks whose deliveries ended, then a kill -9 mid-generation, then a restart."""
    receiver.answer("/before-crash", 500)
    receiver.answer("/gave-up-before-crash", *[500] * 10)
    with server.client() as client:
        retried_id = submit(client, prompt="retried", webhook_url=receiver.url("/before-crash"))
        given_up_id = submit(client, prompt="given up",
                             webhook_url=receiver.url("/gave-up-before-crash"))
        for task_id in (retried_id, given_up_id):
            delivery_outcome(client, task_id)
            assert settled(lambda: (saved_webhook(server, task_id) or {}).get("attempts", 0)
                              >= 2), "the delivery outcome never reached SQLite"

        cut_off_id = submit(client, prompt="cut off", overwrite_step=200, image_number=4,
                            webhook_url=receiver.url("/crash"))
        wait_until_running(client, cut_off_id)

    server.kill()
    assert receiver.received("/crash") == []
    restarted_at = time.time()
    server.start()
    return Crash(retried_id, given_up_id, cut_off_id, restarted_at)


def test_task_cut_off_by_a_crash_is_interrupted_and_delivered_after_restart(crash, client,
                                                                          receiver):
    delivery = receiver.wait_for("/crash")[0]

    assert delivery.received_at >= crash.restarted_at
    assert (delivery.record["task_id"], delivery.record["task_status"]) == \
           (crash.cut_off_id, "interrupted")
    assert client.get(f"/tasks/{crash.cut_off_id}").json()["task_status"] == "interrupted"
    assert delivery_outcome(client, crash.cut_off_id)["delivered"] is True


def test_delivery_outcome_is_kept_in_history_across_a_restart(crash, client, server):
    shown = client.get(f"/tasks/{crash.retried_id}").json()["webhook"]

    assert (shown["delivered"], shown["attempts"], shown["status"], shown["error"]) == \
           (True, 2, 200, None)
    assert saved_webhook(server, crash.retried_id) == shown


def test_given_up_delivery_is_not_sent_again_after_a_restart(crash, client, receiver):
    receiver.wait_for("/crash")
    sent_again = settled(lambda: len(receiver.received("/gave-up-before-crash")) > TRIES,
                            timeout=2)

    shown = client.get(f"/tasks/{crash.given_up_id}").json()["webhook"]

    assert not sent_again
    assert (shown["delivered"], shown["attempts"], shown["error"]) == (False, TRIES, "HTTP 500")


@contextmanager
def history_locked(server: FooocusServer) -> Iterator[None]:
    """Hold SQLite's write lock on the history, as a slow disk or a backup tool might."""
    connection = sqlite3.connect(server.checkout / "outputs" / "db.sqlite3", timeout=10,
                                 isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


@pytest.fixture(scope="module")
def reported_then_crashed(crash: Crash, server: FooocusServer, receiver: Receiver) -> dict:
    """A client receives a task's finished record; at once the process is killed.

    The history's lock is held while the task ends, so a reply sent before the record
    is committed is seen every time, not only when the kill happens to win a race.
    """
    replies: list[httpx.Response] = []
    client = server.client()
    body = {"prompt": "reported finished", "image_number": 1, "overwrite_step": 20,
            "webhook_url": receiver.url("/reported")}
    waiting = threading.Thread(target=lambda: replies.append(
        client.post(GENERATE, json=body, headers={"Accept": "application/json"})))
    waiting.start()
    running = settled(lambda: client.get("/tasks", params={"query": "current"}).json()
                         ["current"])
    assert running, "the task did not start"
    assert settled(lambda: saved_row(server, running[0]["task_id"])), "never queued in SQLite"

    with history_locked(server):
        waiting.join(timeout=3)
        if replies:
            server.kill()
    waiting.join(timeout=30)
    server.kill()
    client.close()
    server.start()
    return replies[0].json()


def test_task_reported_finished_stays_finished_after_a_crash(reported_then_crashed, client,
                                                            receiver):
    reported = reported_then_crashed
    assert reported["task_status"] == "finished"

    kept = client.get(f"/tasks/{reported['task_id']}").json()
    deliveries = receiver.wait_for("/reported")
    sent_again = settled(lambda: len(receiver.received("/reported")) > 1, timeout=1)

    assert (kept["task_status"], kept["result"]) == ("finished", reported["result"])
    assert [delivery.record["task_status"] for delivery in deliveries] == ["finished"]
    assert not sent_again
