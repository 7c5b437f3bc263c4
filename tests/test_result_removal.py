"""Which node is asked to remove a deleted record's images (a real redis-server holds
the heartbeats; the other nodes are a recorder in place of their control streams)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "extension"))
from fooocus_api.files import FileRoots  # noqa: E402
from fooocus_api.node_control import NodeUnresponsive  # noqa: E402
from fooocus_api.redis_link import RedisLink, heartbeat_key  # noqa: E402
from fooocus_api.result_removal import ClusterRemoval  # noqa: E402
from redis_server import RedisServer, redis_server  # noqa: E402,F401  (a fixture)


class AskedNodes:
    """Stands in for NodeControl: records which node was asked, and removes nothing."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, list[str]]] = []

    def ask_to_delete(self, node: str, urls: list[str]) -> list[str]:
        self.asked.append((node, urls))
        return urls


class SilentNodes(AskedNodes):
    """Every node asked lets the wait run out."""

    def ask_to_delete(self, node: str, urls: list[str]) -> list[str]:
        self.asked.append((node, urls))
        raise NodeUnresponsive(f"node {node}, which holds {len(urls)} of the files, did not "
                               "answer within 5 s")


@pytest.fixture
def heartbeats(redis_server: RedisServer):
    client = redis_server.client()
    client.flushdb()

    def beating(**nodes: str) -> None:
        for node, base_url in nodes.items():
            client.set(heartbeat_key(node), base_url, ex=60)

    yield beating
    client.flushdb()


def removal_on_gateway(redis: RedisServer, tmp_path: Path, shared_history: bool,
                       asked: AskedNodes) -> ClusterRemoval:
    files = FileRoots(results=tmp_path, inputs=tmp_path / "inputs")
    return ClusterRemoval(RedisLink(redis.url()), "gateway", "http://gateway:7865",
                          shared_history, files, asked)  # type: ignore[arg-type]


def test_with_a_shared_history_the_running_node_that_wrote_the_record_is_asked(
        redis_server, heartbeats, tmp_path):
    # b moved to a new address and c now announces b's old one, which the URL carries.
    heartbeats(b="http://10.0.0.2:7866", c="http://10.0.0.2:7865")
    asked = AskedNodes()
    url = "http://10.0.0.2:7865/outputs/2026-12-05/one.png"

    answer = removal_on_gateway(redis_server, tmp_path, True, asked).remove(
        [{"node": "b", "result": [url]}])

    assert asked.asked == [("b", [url])]
    assert answer == {"removed": [url], "left": []}


def test_when_the_writer_is_not_running_the_node_announcing_the_address_is_asked(
        redis_server, heartbeats, tmp_path):
    heartbeats(c="http://10.0.0.3:7865")
    asked = AskedNodes()
    url = "http://10.0.0.3:7865/outputs/2026-12-05/two.png"

    removal_on_gateway(redis_server, tmp_path, True, asked).remove(
        [{"node": "gone", "result": [url]}])

    assert asked.asked == [("c", [url])]


def test_a_node_that_is_not_running_is_not_asked_and_its_images_are_left_with_why(
        redis_server, heartbeats, tmp_path):
    heartbeats(c="http://10.0.0.3:7865")
    asked = AskedNodes()
    url = "http://10.0.0.9:7865/outputs/2026-12-05/three.png"

    answer = removal_on_gateway(redis_server, tmp_path, True, asked).remove(
        [{"node": "gone", "result": [url]}])

    assert asked.asked == []
    assert answer["removed"] == []
    assert [(left["node"], left["files"]) for left in answer["left"]] == [("gone", [url])]
    assert "not running" in answer["left"][0]["reason"]


def test_thousands_of_images_are_asked_for_in_batches_of_500(redis_server, heartbeats,
                                                            tmp_path):
    heartbeats(b="http://10.0.0.2:7865")
    asked = AskedNodes()
    urls = [f"http://10.0.0.2:7865/outputs/2026-12-05/{number}.png" for number in range(1_200)]

    answer = removal_on_gateway(redis_server, tmp_path, True, asked).remove(
        [{"node": "b", "result": urls}])

    assert [len(batch) for node, batch in asked.asked] == [500, 500, 200]
    assert answer["removed"] == urls


def test_a_node_that_did_not_answer_is_not_asked_again_by_the_next_batch_of_records(
        redis_server, heartbeats, tmp_path):
    # Its heartbeat has not expired yet: it died a moment ago.
    heartbeats(b="http://10.0.0.2:7865")
    silent = SilentNodes()
    removal = removal_on_gateway(redis_server, tmp_path, True, silent)
    first, second = (f"http://10.0.0.2:7865/outputs/2026-12-05/{name}.png" for name in "xy")

    removal.remove([{"node": "b", "result": [first]}])
    answer = removal.remove([{"node": "b", "result": [second]}])

    assert silent.asked == [("b", [first])]
    assert [left["files"] for left in answer["left"]] == [[second]]
    assert "not asked again" in answer["left"][0]["reason"]
