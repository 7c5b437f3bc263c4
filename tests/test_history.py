"""/tasks as history: listing, paging, time windows, deleting, inputs and crashes."""
from __future__ import annotations

import base64
import io
import itertools
import threading
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from PIL import Image

from fooocus_server import FooocusServer, GENERATE, start_server, wait_for_end, wait_until
from history_rows import copies_of, stored_rows

# An offset no test machine has by accident, so "naive means server local time" is
# told apart from "naive means UTC".
SERVER_TIME_ZONE = "Asia/Kathmandu"
FINAL_STATUSES = {"finished", "failed", "stopped", "skipped", "canceled", "interrupted"}
_colours = itertools.count(1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, history_flags: list[str]):
    """Steps of 20 ms, 4 per image, in a time zone 5:45 ahead of UTC; history in SQLite
    or PostgreSQL."""
    running = start_server(tmp_path_factory.mktemp("history"), flags=history_flags,
                           env={"FOOOCUS_STANDIN_STEP_SECONDS": "0.02",
                                "FOOOCUS_STANDIN_STEPS": "4", "TZ": SERVER_TIME_ZONE})
    yield running
    running.stop()


# -- helpers --------------------------------------------------------------------------------

def unique(prompt: str) -> str:
    return f"{prompt} {uuid.uuid4().hex[:8]}"


def submit(client: httpx.Client, prompt: str, **fields: object) -> dict:
    body = {"prompt": prompt, "image_number": 1, "async_process": True, **fields}
    reply = client.post(GENERATE, json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()


def run(client: httpx.Client, prompt: str, **fields: object) -> dict:
    return wait_for_end(client, submit(client, prompt, **fields)["task_id"])


def wait_running(client: httpx.Client, task_id: str) -> dict:
    return wait_until(lambda: (lambda record: record if record["task_status"] == "running"
                               else None)(client.get(f"/tasks/{task_id}").json()))


def history(client: httpx.Client, **params: object) -> httpx.Response:
    return client.get("/tasks", params={"query": "history", "page_size": 100, **params})


def history_ids(client: httpx.Client, **params: object) -> list[str]:
    reply = history(client, **params)
    assert reply.status_code == 200, reply.text
    return [record["task_id"] for record in reply.json()["history"]]


def rows(server: FooocusServer, where: str = "", parameters: tuple = ()) -> list[dict]:
    return stored_rows(server, where, parameters)


def stored_status(server: FooocusServer, task_id: str) -> str | None:
    found = rows(server, "WHERE task_id = ?", (task_id,))
    return found[0]["task_status"] if found else None


def wait_stored(server: FooocusServer, task_id: str, status: str) -> None:
    wait_until(lambda: stored_status(server, task_id) == status)


def url_file(server: FooocusServer, url: str) -> Path:
    """The file on disk behind an /outputs/ or /inputs/ URL."""
    path = urlsplit(url).path
    if path.startswith("/inputs/"):
        return server.checkout / "outputs" / "inputs" / path.removeprefix("/inputs/")
    return server.checkout / "outputs" / path.removeprefix("/outputs/")


def padded_png_base64() -> str:
    """A PNG of a colour no other call used, whose base64 ends in '=' padding."""
    colour = next(_colours)
    for side in itertools.count(8):
        buffer = io.BytesIO()
        Image.new("RGB", (side, side), (colour % 256, colour // 256 % 256, 99)).save(buffer, "PNG")
        if len(buffer.getvalue()) % 3:
            return base64.b64encode(buffer.getvalue()).decode()
    raise AssertionError("unreachable")


def iso(mills: int, zone: timezone | ZoneInfo) -> str:
    moment = datetime.fromtimestamp(mills // 1000, zone) + timedelta(milliseconds=mills % 1000)
    return moment.isoformat(timespec="milliseconds")


def iso_z(mills: int) -> str:
    return iso(mills, timezone.utc).replace("+00:00", "Z")


def iso_plus_five(mills: int) -> str:
    return iso(mills, timezone(timedelta(hours=5)))


def iso_naive_server_local(mills: int) -> str:
    moment = datetime.fromtimestamp(mills // 1000, ZoneInfo(SERVER_TIME_ZONE))
    return (moment.replace(tzinfo=None) + timedelta(milliseconds=mills % 1000)
            ).isoformat(timespec="milliseconds")


# -- query and paging -----------------------------------------------------------------------

def test_query_other_than_all_current_pending_history_is_a_422(client):
    reply = client.get("/tasks", params={"query": "running"})

    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"] == ["query", "query"]


@pytest.mark.parametrize("name, value", [("page_size", 0), ("page_size", 101), ("page", -1)])
def test_page_and_page_size_out_of_range_are_a_422_naming_the_field(client, name, value):
    reply = client.get("/tasks", params={"query": "history", name: value})

    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"] == ["query", name]


def test_history_is_newest_first_and_pages_do_not_overlap(client):
    mine = [run(client, unique("paged"))["task_id"] for _ in range(3)]

    pages = [history_ids(client, page=page, page_size=2) for page in range(3)]
    records = [record for page in range(3)
               for record in history(client, page=page, page_size=2).json()["history"]]

    listed = [task_id for page in pages for task_id in page]
    assert len(listed) == len(set(listed))
    assert [task_id for task_id in listed if task_id in mine] == mine[::-1]
    assert pages[0] == mine[:0:-1]
    queued = [record["in_queue_mills"] for record in records]
    assert queued == sorted(queued, reverse=True)


@pytest.mark.parametrize("page_size", [1, 100])
def test_page_size_1_and_100_are_accepted(client, server, page_size):
    wait_stored(server, run(client, unique("one more"))["task_id"], "finished")
    ended = len(rows(server, "WHERE task_status NOT IN ('pending', 'running')"))

    reply = client.get("/tasks", params={"query": "history", "page_size": page_size})

    assert reply.status_code == 200
    assert len(reply.json()["history"]) == min(page_size, ended)


def test_current_holds_the_one_running_task_with_its_preview(client):
    running = submit(client, unique("current"), overwrite_step=50)["task_id"]
    waiting = submit(client, unique("waiting"))["task_id"]

    listing = wait_until(lambda: (lambda body: body if body["current"]
                                  and body["current"][0]["preview"] else None)(
        client.get("/tasks", params={"query": "current"}).json()))

    assert len(listing["current"]) == 1
    assert listing["current"][0]["task_id"] == running
    assert listing["current"][0]["preview"].startswith("data:image/jpeg;base64,")
    wait_for_end(client, running)
    wait_for_end(client, waiting)


# -- time windows ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def four_tasks(server: FooocusServer) -> dict[str, dict]:
    """Four tasks run one after another: before, first, second, after."""
    with server.client() as client:
        return {name: run(client, unique(f"window {name}"))
                for name in ("before", "first", "second", "after")}


def window_around_first_and_second(tasks: dict[str, dict]) -> tuple[int, int]:
    queued = {name: record["in_queue_mills"] for name, record in tasks.items()}
    assert queued["before"] < queued["first"] < queued["second"] < queued["after"]
    return ((queued["before"] + queued["first"]) // 2, (queued["second"] + queued["after"]) // 2)


@pytest.mark.parametrize("written", [iso_z, iso_plus_five, iso_naive_server_local],
                         ids=["utc_z", "plus_05_00", "naive_server_local"])
def test_start_at_and_end_at_select_exactly_the_tasks_queued_inside(client, four_tasks, written):
    start, end = window_around_first_and_second(four_tasks)

    listed = history_ids(client, start_at=written(start), end_at=written(end))

    assert listed == [four_tasks["second"]["task_id"], four_tasks["first"]["task_id"]]


def test_end_at_defaults_to_now(client, four_tasks):
    start, _ = window_around_first_and_second(four_tasks)

    listed = history_ids(client, start_at=iso_z(start))

    ours = {record["task_id"]: name for name, record in four_tasks.items()}
    assert sorted(ours[task_id] for task_id in listed if task_id in ours) == [
        "after", "first", "second"]


def test_a_naive_window_from_the_first_to_the_last_day_of_the_calendar_holds_every_task(
        client, four_tasks):
    # The server's zone is ahead of UTC, so year 1 at midnight local is before datetime's range.
    listed = history_ids(client, start_at="0001-01-01T00:00:00", end_at="9999-12-31T23:59:59",
                         page_size=100)

    assert {record["task_id"] for record in four_tasks.values()} <= set(listed)


def test_malformed_start_at_is_a_422_naming_start_at(client):
    reply = history(client, start_at="yesterday")

    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"] == ["query", "start_at"]
    assert "e.g. 2024-07-03T12:00:00Z" in reply.json()["detail"][0]["msg"]


def test_a_time_zone_with_an_unencoded_plus_is_a_422_that_says_how_to_write_it(client):
    reply = client.get("/tasks?start_at=2024-07-03T12:00:00+02:00")  # '+' arrives as a space

    assert reply.status_code == 422
    assert "%2B" in reply.json()["detail"][0]["msg"]


def test_end_at_before_start_at_is_a_422(client):
    reply = history(client, start_at="2024-07-03T12:00:00Z", end_at="2024-07-03T11:00:00Z")

    assert reply.status_code == 422
    assert "end_at" in reply.text


# -- deleting -------------------------------------------------------------------------------

def test_delete_without_start_at_is_a_422_and_deletes_nothing(client, server):
    kept = run(client, unique("kept"))["task_id"]
    wait_stored(server, kept, "finished")
    stored_before = len(rows(server))

    reply = client.get("/tasks", params={"action": "delete"})

    assert reply.status_code == 422
    assert "start_at" in reply.text
    assert len(rows(server)) == stored_before
    assert client.get(f"/tasks/{kept}").status_code == 200


@pytest.fixture(scope="module")
def deletion(server: FooocusServer) -> dict:
    """A task with an input image and two results, deleted by a window around it alone."""
    with server.client() as client:
        neighbour = run(client, unique("neighbour"))
        deleted = run(client, unique("to delete"), image_number=2,
                      uov_input_image=padded_png_base64(), uov_method="Vary (Subtle)")
        assert deleted["task_status"] == "finished"
        assert len(deleted["result"]) == 2
        wait_stored(server, deleted["task_id"], "finished")
        queued = deleted["in_queue_mills"]

        reply = client.get("/tasks", params={"action": "delete", "start_at": iso_z(queued - 1),
                                             "end_at": iso_z(queued + 1)})
    return {"reply": reply, "record": deleted, "neighbour": neighbour}


def test_delete_reply_lists_the_records_and_images_it_deleted(deletion):
    reply, record = deletion["reply"], deletion["record"]

    assert reply.status_code == 200
    body = reply.json()
    assert [deleted["task_id"] for deleted in body["history"]] == [record["task_id"]]
    assert body["deleted"] == {"tasks": 1, "files": record["result"], "files_left": []}


def test_an_image_already_gone_from_disk_is_listed_as_left_when_history_is_deleted(
        client, server):
    record = run(client, unique("image removed by hand"))
    wait_stored(server, record["task_id"], "finished")
    url_file(server, record["result"][0]).unlink()
    queued = record["in_queue_mills"]

    reply = client.get("/tasks", params={"action": "delete", "start_at": iso_z(queued - 1),
                                         "end_at": iso_z(queued + 1)})

    assert reply.status_code == 200, reply.text
    deleted = reply.json()["deleted"]
    assert (deleted["tasks"], deleted["files"]) == (1, [])
    assert [left["files"] for left in deleted["files_left"]] == [record["result"]]
    # The SQLite server has no node name; the PostgreSQL one is test-node.
    assert deleted["files_left"][0]["reason"].startswith(
        ("not on this node's disk", "not on node test-node's disk"))
    assert client.get(f"/tasks/{record['task_id']}").status_code == 404


def test_a_window_of_thousands_of_tasks_is_deleted_whole_and_the_reply_lists_the_newest_1000(
        client, server):
    record = run(client, unique("copied"))
    wait_stored(server, record["task_id"], "finished")
    queued_from = 1_577_836_800_000  # 2020-01-01, before any task the tests run
    paths = copies_of(server, record, 2_100, queued_from)

    reply = client.get("/tasks", params={"action": "delete", "start_at": iso_z(queued_from),
                                         "end_at": iso_z(queued_from + 2_099)})

    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["deleted"]["tasks"] == 2_100
    assert sorted(urlsplit(url).path for url in body["deleted"]["files"]) == \
        sorted(urlsplit(url).path for url in paths)
    assert body["deleted"]["files_left"] == []
    assert [item["in_queue_mills"] for item in body["history"]] == \
        list(range(queued_from + 2_099, queued_from + 1_099, -1))
    assert rows(server, "WHERE in_queue_mills <= ?", (queued_from + 2_099,)) == []
    assert not any(url_file(server, path).exists() for path in paths)


def test_deleted_task_is_a_404_and_gone_from_the_database(deletion, client, server):
    task_id = deletion["record"]["task_id"]

    assert client.get(f"/tasks/{task_id}").status_code == 404
    assert rows(server, "WHERE task_id = ?", (task_id,)) == []


def test_deleted_task_images_are_a_404_and_gone_from_disk(deletion, client, server):
    for url in deletion["record"]["result"]:
        assert client.get(url).status_code == 404
        assert not url_file(server, url).exists()


def test_delete_keeps_the_input_images(deletion, client, server):
    input_url = deletion["record"]["req_params"]["uov_input_image"]

    assert urlsplit(input_url).path.startswith("/inputs/")
    assert client.get(input_url).status_code == 200
    assert url_file(server, input_url).is_file()


def test_delete_keeps_records_queued_outside_the_window(deletion, client, server):
    neighbour = deletion["neighbour"]

    assert client.get(f"/tasks/{neighbour['task_id']}").json()["task_status"] == "finished"
    assert stored_status(server, neighbour["task_id"]) == "finished"
    assert client.get(neighbour["result"][0]).status_code == 200


def test_delete_never_touches_a_pending_or_running_task(client, server):
    running = submit(client, unique("running while deleting"), overwrite_step=60)
    pending = submit(client, unique("pending while deleting"))
    wait_running(client, running["task_id"])

    reply = client.get("/tasks", params={"action": "delete",
                                         "start_at": iso_z(running["in_queue_mills"] - 1)})

    assert reply.status_code == 200
    assert reply.json()["history"] == []
    for task in (running, pending):
        record = wait_for_end(client, task["task_id"])
        assert record["task_status"] == "finished"
        assert client.get(record["result"][0]).status_code == 200
        wait_stored(server, task["task_id"], "finished")


# -- inputs ---------------------------------------------------------------------------------

def test_the_same_input_image_twice_is_saved_once_under_one_url(client, server):
    image = padded_png_base64()
    inputs = server.checkout / "outputs" / "inputs"
    before = set(inputs.iterdir()) if inputs.exists() else set()

    urls = [run(client, unique("same input"), uov_input_image=image,
                uov_method="Vary (Subtle)")["req_params"]["uov_input_image"] for _ in range(2)]

    assert urls[0] == urls[1]
    added = set(inputs.iterdir()) - before
    assert [path.name for path in added] == [urlsplit(urls[0]).path.removeprefix("/inputs/")]


def test_data_uri_and_unpadded_base64_give_the_same_input_url(client):
    plain = padded_png_base64()
    assert plain.endswith("=")
    spellings = [plain, "data:image/png;base64," + plain, plain.rstrip("=")]

    urls = [run(client, unique("spelling"), uov_input_image=spelled,
                uov_method="Vary (Subtle)")["req_params"]["uov_input_image"]
            for spelled in spellings]

    assert urlsplit(urls[0]).path.startswith("/inputs/")
    assert urls == [urls[0]] * 3


def test_record_keeps_the_inputs_url_not_the_base64(client, server):
    image = padded_png_base64()
    task_id = run(client, unique("recorded input"), uov_input_image=image,
                  uov_method="Vary (Subtle)")["task_id"]
    wait_stored(server, task_id, "finished")

    shown = client.get(f"/tasks/{task_id}").json()["req_params"]["uov_input_image"]
    stored = rows(server, "WHERE task_id = ?", (task_id,))[0]["req_params"]

    assert shown == f"{server.url}{urlsplit(shown).path}"
    assert urlsplit(shown).path.startswith("/inputs/")
    assert urlsplit(shown).path in stored
    assert image[:64] not in stored


# -- record fields --------------------------------------------------------------------------

def test_records_carry_their_source_and_error(client, server):
    finished = run(client, unique("fine"))
    failed = run(client, unique("standin:raise"))
    wait_stored(server, failed["task_id"], "failed")

    assert (finished["source"], finished["error"]) == ("api", None)
    assert failed["source"] == "api"
    assert "stand-in failure requested" in failed["error"]
    stored = rows(server, "WHERE task_id = ?", (failed["task_id"],))[0]
    assert stored["source"] == "api"
    assert "stand-in failure requested" in stored["error"]


def test_records_carry_the_name_of_the_node_that_ran_them(client, server):
    task_id = run(client, unique("named node"))["task_id"]
    wait_stored(server, task_id, "finished")

    stored = rows(server, "WHERE task_id = ?", (task_id,))[0]

    flags = server.flags
    expected = flags[flags.index("--api-node-name") + 1] if "--api-node-name" in flags else ""
    assert stored["node"] == expected
    assert "node" not in client.get(f"/tasks/{task_id}").json()


# -- many readers ---------------------------------------------------------------------------

STATUS_RANK = {"pending": 0, "running": 1, **{status: 2 for status in FINAL_STATUSES}}


def read_while_tasks_end(server: FooocusServer, task_ids: list[str], done: threading.Event,
                         problems: list[str]) -> None:
    seen: dict[str, int] = {}

    def observe(record: dict, where: str) -> None:
        task_id, status = record["task_id"], record["task_status"]
        if status == "finished" and not record["result"]:
            problems.append(f"{where}: {task_id} finished without results")
        if STATUS_RANK[status] < seen.get(task_id, 0):
            problems.append(f"{where}: {task_id} went back to {status}")
        seen[task_id] = max(seen.get(task_id, 0), STATUS_RANK[status])

    with server.client() as client:
        for turn in itertools.count():
            if done.is_set():
                return
            listing = client.get("/tasks", params={"query": "history", "page_size": 20})
            if listing.status_code != 200:
                problems.append(f"/tasks answered {listing.status_code}")
                continue
            records = listing.json()["history"]
            queued = [record["in_queue_mills"] for record in records]
            if queued != sorted(queued, reverse=True):
                problems.append("history is not newest first")
            if len({record["task_id"] for record in records}) != len(records):
                problems.append("history lists a task twice")
            for record in records:
                if record["task_status"] not in FINAL_STATUSES:
                    problems.append(f"history holds a {record['task_status']} task")
                observe(record, "history")

            task_id = task_ids[turn % len(task_ids)]
            single = client.get(f"/tasks/{task_id}")
            if single.status_code != 200 or single.json()["task_id"] != task_id:
                problems.append(f"/tasks/{task_id} answered {single.status_code}")
                continue
            observe(single.json(), "task")


def test_concurrent_readers_get_consistent_replies_while_tasks_finish(client, server):
    task_ids = [submit(client, unique(f"busy {number}"))["task_id"] for number in range(10)]
    done = threading.Event()
    problems: list[str] = []
    readers = [threading.Thread(target=read_while_tasks_end,
                                args=(server, task_ids, done, problems)) for _ in range(8)]
    for reader in readers:
        reader.start()

    try:
        ended = [wait_for_end(client, task_id, timeout=60) for task_id in task_ids]
    finally:
        done.set()
        for reader in readers:
            reader.join(timeout=30)

    assert problems == []
    assert [record["task_status"] for record in ended] == ["finished"] * 10


# -- crash ----------------------------------------------------------------------------------

def test_tasks_cut_off_by_a_crash_read_interrupted_after_restart(client, server):
    """Kills and restarts the module's server, so it runs last."""
    running = submit(client, unique("cut off while running"), overwrite_step=200)["task_id"]
    pending = submit(client, unique("cut off while pending"))["task_id"]
    wait_running(client, running)
    wait_until(lambda: stored_status(server, running) and stored_status(server, pending))

    server.kill()
    server.start()

    with server.client() as restarted:
        for task_id in (running, pending):
            assert restarted.get(f"/tasks/{task_id}").json()["task_status"] == "interrupted"
            assert stored_status(server, task_id) == "interrupted"
        after = run(restarted, unique("after the crash"))
    assert after["task_status"] == "finished"
    wait_stored(server, after["task_id"], "finished")
    assert rows(server, "WHERE task_id IN (SELECT task_id FROM tasks GROUP BY task_id "
                        "HAVING COUNT(*) > 1)") == []
