"""Several nodes behind one queue in Redis: a gateway and two worker nodes.

Every node is a real plugin server on the stand-in Fooocus, in its own folder
and process; they share a real redis-server and one history in a real
PostgreSQL database. Steps take 50 ms, so a task of `overwrite_step` N runs for
about N / 20 seconds.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from urllib.parse import urlsplit
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from history_rows import copies_of, stored_rows
from fooocus_server import (FooocusServer, GENERATE, empty_the_queue, start_server, wait_for_end,
                            wait_until)
from redis_server import RedisServer, redis_server, start_redis  # noqa: F401  (a fixture)
from webhook_receiver import Receiver

CONTROL = "/v1/engine/control"
TIMEOUT_SECONDS = 4
STEPS_ENV = {"FOOOCUS_STANDIN_STEP_SECONDS": "0.05", "FOOOCUS_STANDIN_STEPS": "40"}


@dataclass
class Cluster:
    gateway: FooocusServer
    workers: dict[str, FooocusServer]

    @property
    def nodes(self) -> list[FooocusServer]:
        return [self.gateway, *self.workers.values()]


def start_node(folder: Path, redis: RedisServer, name: str, *flags: str,
               database_url: str | None = None) -> FooocusServer:
    history = ["--api-database-url", database_url] if database_url else []
    return start_server(folder, flags=["--api-cluster", redis.url(), "--api-node-name", name,
                                       "--api-cluster-timeout", str(TIMEOUT_SECONDS),
                                       "--api-allow-hosts", "127.0.0.1", *history, *flags],
                        env=STEPS_ENV)


@pytest.fixture(scope="module")
def receiver():
    running = Receiver()
    yield running
    running.close()


@pytest.fixture(scope="module")
def database_url(postgres) -> str:
    return postgres.new_database()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer,
            database_url: str):
    plans = {"gateway": ("--nowebui", "--api-cluster-role", "gateway"), "a": (), "b": ()}
    with ThreadPoolExecutor(len(plans)) as pool:
        started = {name: pool.submit(start_node, tmp_path_factory.mktemp(name), redis_server,
                                     name, *flags, database_url=database_url)
                   for name, flags in plans.items()}
        servers = {name: future.result() for name, future in started.items()}
    gateway = servers.pop("gateway")
    yield Cluster(gateway, servers)
    for server in [gateway, *servers.values()]:
        server.stop()


@pytest.fixture
def gateway(cluster: Cluster):
    with cluster.gateway.client() as http:
        yield http
        empty_the_queue(http)


def submit(client: httpx.Client, steps: int, **fields: object) -> str:
    body = {"prompt": f"cluster {uuid.uuid4().hex[:8]}", "image_number": 1,
            "overwrite_step": steps, "async_process": True, **fields}
    reply = client.post(GENERATE, json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()["task_id"]


def wait_status(client: httpx.Client, task_id: str, status: str) -> dict:
    return wait_until(lambda: (lambda record: record if record["task_status"] == status
                               else None)(client.get(f"/tasks/{task_id}").json()))


def node_of(server: FooocusServer, cluster: Cluster) -> str:
    return next(name for name, worker in cluster.workers.items() if worker is server)


# -- the queue ------------------------------------------------------------------------------

def test_tasks_spread_over_both_worker_nodes_and_none_runs_on_the_gateway(gateway, cluster):
    task_ids = [submit(gateway, steps=20) for _ in range(4)]

    records = [wait_for_end(gateway, task_id, timeout=60) for task_id in task_ids]

    assert [record["task_status"] for record in records] == ["finished"] * 4
    assert {record["node"] for record in records} == {"a", "b"}


def test_the_gateway_starts_no_fooocus_worker_so_it_loads_no_model(gateway, cluster):
    # Fooocus's worker thread says so when it starts; on a real node it loads the models next.
    started = "Started worker with PID"

    assert [started in worker.log for worker in cluster.workers.values()] == [True, True]
    assert started not in cluster.gateway.log
    assert "Fooocus's worker thread is not started" in cluster.gateway.log


def test_a_node_takes_a_task_only_when_its_worker_is_idle(gateway, cluster):
    first, second = submit(gateway, steps=40), submit(gateway, steps=40)
    third = submit(gateway, steps=4)

    running = [wait_status(gateway, task_id, "running") for task_id in (first, second)]
    waiting = gateway.get(f"/tasks/{third}").json()

    assert {record["node"] for record in running} == {"a", "b"}
    assert waiting["task_status"] == "pending"
    assert waiting["position"] == 1


def test_a_task_reads_the_same_from_every_node(gateway, cluster):
    task_id = submit(gateway, steps=4)
    wait_for_end(gateway, task_id)

    seen = []
    for node in cluster.nodes:
        with node.client() as client:
            seen.append(client.get(f"/tasks/{task_id}").json())

    assert seen[0]["task_status"] == "finished"
    assert all(record == seen[0] for record in seen)


def test_tasks_listing_is_the_same_from_every_node(gateway, cluster):
    wait_for_end(gateway, submit(gateway, steps=4))
    running = [submit(gateway, steps=200) for _ in range(2)]  # 10 s: they outlast the reads
    for task_id in running:
        wait_status(gateway, task_id, "running")
    waiting = submit(gateway, steps=4)

    listings = []
    for node in cluster.nodes:
        with node.client() as client:
            listings.append(client.get("/tasks", params={"page_size": 50}).json())

    first = listings[0]
    assert {task["task_id"] for task in first["current"]} == set(running)
    assert [task["task_id"] for task in first["pending"]] == [waiting]
    assert len(first["history"]) > 0
    for listing in listings[1:]:
        assert {task["task_id"] for task in listing["current"]} == set(running)
        assert listing["pending"] == first["pending"]
        assert listing["history"] == first["history"]


def test_result_urls_point_at_the_node_that_made_the_image(gateway, cluster):
    task_id = submit(gateway, steps=4)

    record = wait_for_end(gateway, task_id)

    maker = cluster.workers[record["node"]]
    assert record["result"][0].startswith(maker.url + "/outputs/")
    assert httpx.get(record["result"][0]).status_code == 200


def iso(mills: int) -> str:
    return datetime.fromtimestamp(mills / 1000, timezone.utc).isoformat()


def delete_history_of(client: httpx.Client, record: dict) -> httpx.Response:
    """Delete the history window of exactly this record's queue time."""
    queued = record["in_queue_mills"]
    return client.get("/tasks", params={"action": "delete", "start_at": iso(queued - 1),
                                        "end_at": iso(queued + 1)})


def test_deleting_history_on_any_node_removes_the_images_where_they_were_made(gateway, cluster):
    record = wait_for_end(gateway, submit(gateway, steps=2))
    other = next(node for name, node in cluster.workers.items() if name != record["node"])
    assert httpx.get(record["result"][0]).status_code == 200

    with other.client() as client:
        reply = delete_history_of(client, record)

    assert reply.status_code == 200, reply.text
    assert reply.json()["deleted"] == {"tasks": 1, "files": record["result"], "files_left": []}
    assert httpx.get(record["result"][0]).status_code == 404
    assert gateway.get(f"/tasks/{record['task_id']}").status_code == 404


def test_images_of_a_node_that_is_gone_are_listed_as_left_when_history_is_deleted(
        gateway, cluster, redis_server, database_url, tmp_path):
    leaver = start_node(tmp_path, redis_server, "leaver", database_url=database_url)
    try:
        task_ids = [submit(gateway, steps=20) for _ in range(3)]
        records = [wait_for_end(gateway, task_id, timeout=60) for task_id in task_ids]
    finally:
        leaver.kill()
    made_there = [record for record in records if record["node"] == "leaver"]
    assert made_there, "the three idle nodes should each have taken one task"

    reply = delete_history_of(gateway, made_there[0])

    assert reply.status_code == 200, reply.text
    deleted = reply.json()["deleted"]
    assert (deleted["tasks"], deleted["files"]) == (1, [])
    assert [(left["base_url"], left["files"]) for left in deleted["files_left"]] == \
        [(leaver.url, made_there[0]["result"])]
    assert deleted["files_left"][0]["reason"]



def test_an_image_gone_from_its_nodes_disk_is_listed_as_left_when_history_is_deleted(
        gateway, cluster):
    record = wait_for_end(gateway, submit(gateway, steps=2))
    maker = cluster.workers[record["node"]]
    other = next(node for name, node in cluster.workers.items() if name != record["node"])
    for image in (maker.checkout / "outputs").rglob(Path(urlsplit(record["result"][0]).path).name):
        image.unlink()

    with other.client() as client:
        reply = delete_history_of(client, record)

    assert reply.status_code == 200, reply.text
    deleted = reply.json()["deleted"]
    assert (deleted["tasks"], deleted["files"]) == (1, [])
    assert [(left["node"], left["files"]) for left in deleted["files_left"]] == \
        [(record["node"], record["result"])]
    assert f"node {record['node']}'s disk" in deleted["files_left"][0]["reason"]


def test_thousands_of_images_on_another_node_are_all_removed_and_reported(gateway, cluster):
    record = wait_for_end(gateway, submit(gateway, steps=2))
    maker = cluster.workers[record["node"]]
    other = next(node for name, node in cluster.workers.items() if name != record["node"])
    queued_from = 1_577_836_800_000  # 2020-01-01, before any task the tests run
    urls = copies_of(maker, record, 1_200, queued_from)

    with other.client() as client:
        reply = client.get("/tasks", params={"action": "delete", "start_at": iso(queued_from),
                                             "end_at": iso(queued_from + 1_199)}, timeout=60)

    assert reply.status_code == 200, reply.text
    deleted = reply.json()["deleted"]
    assert (deleted["tasks"], deleted["files_left"]) == (1_200, [])
    assert sorted(deleted["files"]) == sorted(urls)
    assert not images_on_disk(maker) & {Path(url).name for url in urls}

# -- replies through the gateway -----------------------------------------------------------

def test_stream_through_the_gateway_of_a_task_running_on_a_worker(gateway, cluster):
    body = {"prompt": "streamed", "image_number": 1, "overwrite_step": 10,
            "stream_output": True}
    events = []
    with gateway.stream("POST", GENERATE, json=body) as reply:
        assert reply.headers["content-type"].startswith("text/event-stream")
        for line in reply.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[len("data: "):]))

    progress = [event["progress"] for event in events]
    assert progress == sorted(progress)
    assert any(event["preview"] and event["preview"].startswith("data:image/jpeg;base64,")
               for event in events)
    final = events[-1]
    assert final["task_status"] == "finished"
    assert final["images"][0].startswith(tuple(worker.url for worker in cluster.workers.values()))


def test_many_streams_through_the_gateway_each_get_their_own_task_in_order(gateway, cluster):
    # Six tasks queued at once on two nodes: the gateway follows them all, starting
    # to follow each while it already waits on the others.
    def stream(number: int) -> list[dict]:
        body = {"prompt": f"stream {number}", "image_number": 1, "overwrite_step": 6,
                "stream_output": True}
        with cluster.gateway.client() as client, \
                client.stream("POST", GENERATE, json=body) as reply:
            return [json.loads(line[len("data: "):]) for line in reply.iter_lines()
                    if line.startswith("data: ")]

    with ThreadPoolExecutor(6) as pool:
        streams = list(pool.map(stream, range(6)))

    finals = [events[-1] for events in streams]
    assert [final["task_status"] for final in finals] == ["finished"] * 6
    assert len({final["task_id"] for final in finals}) == 6
    for events in streams:
        progress = [event["progress"] for event in events]
        assert progress == sorted(progress) and len(events) >= 6


def test_binary_reply_through_the_gateway_is_the_image(gateway, cluster):
    reply = gateway.post(GENERATE, json={"prompt": "binary", "overwrite_step": 4},
                         headers={"Accept": "image/png"})

    assert reply.status_code == 200
    assert reply.headers["content-type"] == "image/png"
    assert reply.content.startswith(b"\x89PNG")


def test_sync_reply_through_the_gateway_is_the_finished_record(gateway, cluster):
    reply = gateway.post(GENERATE, json={"prompt": "sync", "overwrite_step": 4},
                         headers={"Accept": "application/json"})

    assert reply.status_code == 200
    assert reply.json()["task_status"] == "finished"
    assert reply.json()["node"] in cluster.workers


# -- control from any node ------------------------------------------------------------------

def test_cancel_of_a_pending_task_from_a_worker_node(gateway, cluster):
    blockers = [submit(gateway, steps=40) for _ in range(2)]
    for task_id in blockers:
        wait_status(gateway, task_id, "running")
    waiting = submit(gateway, steps=4)

    with cluster.workers["b"].client() as node_b:
        reply = node_b.delete(f"/tasks/{waiting}")

    assert reply.status_code == 200, reply.text
    assert reply.json()["task_status"] == "canceled"
    assert reply.json()["id"] > 0  # stored in history before the reply, with its row id
    for task_id in blockers:
        gateway.post(CONTROL, json={"action": "stop", "task_id": task_id})
    for task_id in blockers:
        wait_for_end(gateway, task_id)
    time.sleep(0.5)
    shown = gateway.get(f"/tasks/{waiting}").json()
    assert (shown["task_status"], shown["id"]) == ("canceled", reply.json()["id"])


def test_cancel_of_a_running_task_is_a_conflict(gateway, cluster):
    task_id = submit(gateway, steps=40)
    wait_status(gateway, task_id, "running")

    assert gateway.delete(f"/tasks/{task_id}").status_code == 409


def test_stop_of_a_running_task_from_a_node_that_does_not_run_it(gateway, cluster):
    task_id = submit(gateway, steps=40)
    running = wait_status(gateway, task_id, "running")
    other = "b" if running["node"] == "a" else "a"
    wait_until(lambda: gateway.get(f"/tasks/{task_id}").json()["progress"] > 0)

    with cluster.workers[other].client() as client:
        reply = client.post(CONTROL, json={"action": "stop", "task_id": task_id})

    assert reply.status_code == 200, reply.text
    assert wait_for_end(gateway, task_id)["task_status"] == "stopped"


def test_skip_from_the_gateway(gateway, cluster):
    task_id = submit(gateway, steps=40, image_number=1)
    wait_until(lambda: gateway.get(f"/tasks/{task_id}").json()["progress"] > 0)

    reply = gateway.post(CONTROL, json={"action": "skip", "task_id": task_id})

    assert reply.status_code == 200, reply.text
    assert wait_for_end(gateway, task_id)["task_status"] == "skipped"


def test_control_of_an_unknown_task_is_a_conflict(gateway, cluster):
    reply = gateway.post(CONTROL, json={"action": "stop", "task_id": uuid.uuid4().hex})

    assert reply.status_code == 409


# -- dead nodes ------------------------------------------------------------------------------

def test_a_killed_node_s_task_ends_interrupted_and_the_others_finish(
        gateway, cluster, redis_server, receiver, database_url, tmp_path):
    victim = start_node(tmp_path, redis_server, "victim", database_url=database_url)
    try:
        task_ids = [submit(gateway, steps=40, webhook_url=receiver.url("/killed"))
                    for _ in range(3)]
        on_victim = wait_until(lambda: next(
            (task_id for task_id in task_ids
             if gateway.get(f"/tasks/{task_id}").json().get("node") == "victim"), None))
        wait_status(gateway, on_victim, "running")

        victim.kill()
        killed_at = time.monotonic()
        record = wait_for_end(gateway, on_victim, timeout=TIMEOUT_SECONDS * 4)
        noticed_after = time.monotonic() - killed_at
        others = [wait_for_end(gateway, task_id, timeout=60) for task_id in task_ids
                  if task_id != on_victim]
    finally:
        victim.kill()

    assert record["task_status"] == "interrupted"
    assert "victim" in record["error"]
    # Its heartbeat expires within the timeout; a reaper looks every third of it.
    assert noticed_after < TIMEOUT_SECONDS * 1.5 + 1, f"ended {noticed_after:.1f} s after"
    assert [other["task_status"] for other in others] == ["finished", "finished"]
    receiver.wait_for("/killed", count=3)
    time.sleep(1)  # a second delivery of any of them would arrive by now
    delivered = {task_id: [delivery.record["task_status"] for delivery in
                           receiver.received("/killed", task_id)] for task_id in task_ids}
    assert delivered == {task_id: ["interrupted" if task_id == on_victim else "finished"]
                         for task_id in task_ids}


def test_a_node_named_like_a_running_node_stops_at_start_and_leaves_its_tasks_alone(
        gateway, cluster, redis_server, database_url, tmp_path):
    task_id = submit(gateway, steps=200)  # 10 s
    running = wait_status(gateway, task_id, "running")

    with pytest.raises(RuntimeError) as failure:
        start_node(tmp_path, redis_server, running["node"], database_url=database_url)

    assert "server exited" in str(failure.value)
    assert f"another running node is named {running['node']}" in str(failure.value)
    assert gateway.get(f"/tasks/{task_id}").json()["task_status"] == "running"
    # It stopped before its history could mark the running node's tasks interrupted.
    assert "cut off by the last shutdown" not in str(failure.value)
    assert stored_rows(cluster.gateway, "WHERE task_id = ?",
                       (task_id,))[0]["task_status"] in ("pending", "running")


def test_a_cluster_flag_without_redis_py_stops_the_node_with_what_to_install(tmp_path):
    hidden = tmp_path / "no-redis"
    hidden.mkdir()
    (hidden / "redis.py").write_text("raise ImportError('redis-py is hidden for this test')\n")

    with pytest.raises(RuntimeError) as failure:
        start_server(tmp_path, flags=["--api-cluster", "redis://127.0.0.1:1/0"],
                     env={"PYTHONPATH": str(hidden)})

    assert "server exited" in str(failure.value)
    assert "pip install -r requirements-cluster.txt" in str(failure.value)


def test_a_task_that_allows_a_retry_runs_again_on_another_node_when_its_node_dies(
        gateway, cluster, redis_server, database_url, tmp_path):
    victim = start_node(tmp_path, redis_server, "victim-retry", database_url=database_url)
    try:
        task_ids = [submit(gateway, steps=30, retry_on_node_loss=True) for _ in range(3)]
        on_victim = wait_until(lambda: next(
            (task_id for task_id in task_ids
             if gateway.get(f"/tasks/{task_id}").json().get("node") == "victim-retry"), None))
        wait_status(gateway, on_victim, "running")

        victim.kill()
        records = [wait_for_end(gateway, task_id, timeout=60) for task_id in task_ids]
    finally:
        victim.kill()

    assert [record["task_status"] for record in records] == ["finished"] * 3
    retried = records[task_ids.index(on_victim)]
    assert retried["node"] in cluster.workers


# -- the UI --------------------------------------------------------------------------------

def test_a_ui_generation_on_a_worker_node_shows_in_the_cluster(gateway, cluster):
    node_a = cluster.workers["a"]
    answer: dict = {}
    thread = threading.Thread(target=lambda: answer.update(reply=httpx.post(
        f"{node_a.url}/run/generate", json={"data": [None, "from a's ui"]}, timeout=60)))
    thread.start()

    current = wait_until(lambda: [task for task in gateway.get(
        "/tasks", params={"query": "current"}).json()["current"] if task["source"] == "ui"])
    task_id = current[0]["task_id"]
    # Its history row is written as it starts; the cluster's copy gets the row's id then.
    with_id = wait_until(lambda: (lambda record: record if record["id"] > 0 else None)(
        gateway.get(f"/tasks/{task_id}").json()))
    thread.join(timeout=60)
    record = wait_for_end(gateway, task_id)

    assert with_id["task_status"] == "running"
    assert record["id"] == with_id["id"]
    assert current[0]["node"] == "a"
    assert current[0]["req_params"]["prompt"] == "from a's ui"
    assert answer["reply"].status_code == 200
    assert record["task_status"] == "finished"



def test_a_run_the_cluster_gave_up_meanwhile_does_not_overwrite_the_shared_record(
        gateway, cluster, redis_server):
    task_id = submit(gateway, steps=60)  # 3 s
    running = wait_status(gateway, task_id, "running")
    runner = cluster.workers[running["node"]]
    state = redis_server.client()
    wait_until(lambda: float(state.hget(f"fooocus_api:task:{task_id}", "progress") or 0) > 0)
    # What another node does when this one has been cut off from Redis too long.
    state.hset(f"fooocus_api:task:{task_id}", "status", "interrupted")
    state.srem("fooocus_api:held", task_id)

    wait_until(lambda: "after the cluster had given it up" in runner.log, timeout=30)

    row = stored_rows(runner, "WHERE task_id = ?", (task_id,))[0]
    assert (row["task_status"], row["result"]) in [("pending", "[]"), ("running", "[]")]
    assert f"task {task_id} ended here after the cluster had given it up" in runner.log
    assert f"this run's images stay in outputs: {runner.url}/outputs/" in runner.log


# -- losing Redis ------------------------------------------------------------------------------

def test_a_node_that_loses_redis_finishes_its_task_says_so_once_and_reconnects(tmp_path):
    (tmp_path / "redis").mkdir()
    (tmp_path / "node").mkdir()
    redis = start_redis(tmp_path / "redis")
    node = start_node(tmp_path / "node", redis, "lonely")
    try:
        with node.client() as client:
            task_id = submit(client, steps=40)
            wait_status(client, task_id, "running")

            redis.stop()
            refused = client.post(GENERATE, json={"prompt": "no queue", "async_process": True})
            record = wait_for_end(client, task_id, timeout=30)
            wait_until(lambda: "lost Redis" in node.log)
            redis = start_redis(tmp_path / "redis", port=redis.port)
            wait_until(lambda: "is back" in node.log, timeout=30)
            after = wait_for_end(client, submit(client, steps=4), timeout=30)
    finally:
        node.stop()
        redis.stop()

    assert refused.status_code == 503
    assert "Redis" in refused.json()["detail"]
    assert record["task_status"] == "finished"
    assert after["task_status"] == "finished"
    assert node.log.count("lost Redis") == 1


def cluster_flags(redis: RedisServer, name: str) -> list[str]:
    return ["--api-cluster", redis.url(), "--api-node-name", name,
            "--api-cluster-timeout", str(TIMEOUT_SECONDS), "--api-allow-hosts", "127.0.0.1"]


def restarted(server: FooocusServer, flags: list[str]) -> FooocusServer:
    """The same checkout (history, outputs) and port, started again with other flags."""
    server.stop()
    again = FooocusServer(server.checkout, server.port, flags, STEPS_ENV)
    again.start()
    return again


def images_on_disk(server: FooocusServer) -> set[str]:
    return {path.name for path in (server.checkout / "outputs").rglob("*.png")}


@pytest.fixture
def own_redis(tmp_path: Path):
    (tmp_path / "redis").mkdir()
    redis = start_redis(tmp_path / "redis")
    yield redis
    redis.stop()


def made_then_deleted(folder: Path, flags: list[str],
                      flags_after_restart: list[str]) -> tuple[dict, httpx.Response, set[str]]:
    """A task run on a node started with `flags`, its history deleted after the node
    restarted with `flags_after_restart`: the record, the reply, the images left on disk."""
    node = start_server(folder, flags=flags, env=STEPS_ENV)
    try:
        with node.client() as client:
            record = wait_for_end(client, submit(client, steps=2))
        node = restarted(node, flags_after_restart)
        with node.client() as client:
            reply = delete_history_of(client, record)
    finally:
        node.stop()
    return record, reply, images_on_disk(node)


def assert_removed_with_the_history(record: dict, reply: httpx.Response,
                                    on_disk: set[str]) -> None:
    assert reply.status_code == 200, reply.text
    assert reply.json()["deleted"] == {"tasks": 1, "files": record["result"], "files_left": []}
    assert not on_disk & {Path(url).name for url in record["result"]}


def test_images_made_before_a_node_joined_the_cluster_are_removed_with_their_history(
        tmp_path, own_redis):
    assert_removed_with_the_history(
        *made_then_deleted(tmp_path, [], cluster_flags(own_redis, "joined")))


def test_images_made_in_a_cluster_are_removed_after_the_node_left_it(tmp_path, own_redis):
    assert_removed_with_the_history(
        *made_then_deleted(tmp_path, cluster_flags(own_redis, "leaving"), []))


def test_images_are_removed_by_the_node_that_made_them_after_its_address_changed(
        tmp_path, own_redis):
    # The node announces another address; no running node announces the one in the URLs.
    moved = [*cluster_flags(own_redis, "moved"), "--api-base-url", "http://localhost"]
    record, reply, on_disk = made_then_deleted(tmp_path, cluster_flags(own_redis, "moved"), moved)

    assert record["result"][0].startswith("http://127.0.0.1:")
    assert_removed_with_the_history(record, reply, on_disk)


def test_a_redis_that_loses_its_data_while_the_node_waits_for_work_is_taken_in_stride(
        tmp_path, own_redis):
    node = start_server(tmp_path, flags=cluster_flags(own_redis, "flushed"), env=STEPS_ENV)
    try:
        with node.client() as client:
            wait_for_end(client, submit(client, steps=2))
            own_redis.client().flushall()  # the idle node is blocked reading the queue
            after = wait_for_end(client, submit(client, steps=2), timeout=30)
    finally:
        node.stop()

    assert after["task_status"] == "finished"
    assert "Traceback" not in node.log


def test_deleting_history_while_redis_is_away_deletes_nothing_and_says_why(tmp_path):
    (tmp_path / "redis").mkdir()
    redis = start_redis(tmp_path / "redis")
    node = start_server(tmp_path, flags=cluster_flags(redis, "cut-off"), env=STEPS_ENV)
    try:
        with node.client() as client:
            record = wait_for_end(client, submit(client, steps=2))
            redis.stop()
            refused = delete_history_of(client, record)
            still = client.get(f"/tasks/{record['task_id']}")
    finally:
        node.stop()

    assert refused.status_code == 503
    assert "Redis" in refused.json()["detail"]
    assert (still.status_code, still.json()["task_status"]) == (200, "finished")
    assert {Path(url).name for url in record["result"]} <= images_on_disk(node)


def test_without_a_cluster_a_node_sharing_history_removes_only_its_own_images_and_lists_the_rest(
        postgres, tmp_path):
    database = ["--api-database-url", postgres.new_database()]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    node_a = start_server(tmp_path / "a", flags=[*database, "--api-node-name", "a"], env=STEPS_ENV)
    node_b = start_server(tmp_path / "b", flags=[*database, "--api-node-name", "b"], env=STEPS_ENV)
    try:
        with node_b.client() as client:
            record = wait_for_end(client, submit(client, steps=2))
        with node_a.client() as client:
            seen_on_a = client.get(f"/tasks/{record['task_id']}").json()
            reply = delete_history_of(client, record)
    finally:
        node_a.stop()
        node_b.stop()

    assert seen_on_a["result"] == record["result"]

    deleted = reply.json()["deleted"]
    assert (deleted["tasks"], deleted["files"]) == (1, [])
    # Each node names its images with its own address, so a record read on a links to b.
    assert record["result"][0].startswith(node_b.url + "/outputs/")
    assert [(left["node"], left["files"]) for left in deleted["files_left"]] == \
        [("b", record["result"])]
    assert {Path(url).name for url in record["result"]} <= images_on_disk(node_b)


def click_generate_and_ignore_the_answer(server: FooocusServer) -> None:
    try:
        httpx.post(f"{server.url}/run/generate", json={"data": [None, "doomed"]}, timeout=60)
    except httpx.HTTPError:
        pass  # the node is killed before it answers


def test_a_ui_generation_on_a_killed_node_ends_interrupted(gateway, redis_server, database_url,
                                                           tmp_path):
    victim = start_node(tmp_path, redis_server, "victim-ui", database_url=database_url)
    try:
        threading.Thread(target=click_generate_and_ignore_the_answer, args=(victim,),
                         daemon=True).start()
        current = wait_until(lambda: [task for task in gateway.get(
            "/tasks", params={"query": "current"}).json()["current"]
            if task["node"] == "victim-ui"])

        victim.kill()
        record = wait_for_end(gateway, current[0]["task_id"], timeout=TIMEOUT_SECONDS * 4)
    finally:
        victim.kill()

    assert record["task_status"] == "interrupted"
    assert record["source"] == "ui"
    assert "victim-ui" in record["error"]
