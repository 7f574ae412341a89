"""Links of the Raft spans: read only for spans that record, and what is not kept is counted.

A batch's RPC and apply spans link to the proposals of its entries. At 1% sampling the
other 99% must not parse a saved context per entry, and the links a span cannot keep
(past the 128 cap, or a proposal that already ended) show as its dropped links.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import SpanKind

from obskit import propagation, raft

APPEND = f"raft.Raft/{raft.APPEND_ENTRIES}"
#: A remote parent that is not sampled: nothing under it records.
UNSAMPLED = {"traceparent": f"00-{'1' * 32}-{'2' * 16}-00"}
SAMPLED_TRACEPARENT = f"00-{'3' * 32}-{'4' * 16}-01"


class _Counted:
    """A carrier object that counts how often its trace context is read."""

    reads = 0

    @property
    def traceparent(self) -> str:
        type(self).reads += 1
        return SAMPLED_TRACEPARENT


def _fresh_counted() -> type[_Counted]:
    class Counted(_Counted):
        reads = 0

    return Counted


def test_links_are_not_read_for_spans_that_do_not_record(obskit_capture) -> None:
    counted = _fresh_counted()
    carriers = [counted() for _ in range(5)]
    with raft.client_call(raft.APPEND_ENTRIES, {}, node_id="n1", peer_id="n2",
                          parent=UNSAMPLED, links=carriers):  # fmt: skip
        pass
    with raft.server_call(raft.APPEND_ENTRIES, dict(UNSAMPLED), node_id="n2", peer_id="n1",
                          links=carriers):  # fmt: skip
        pass
    with propagation.continue_trace(UNSAMPLED), raft.apply("n2", carriers=carriers):
        pass
    assert counted.reads == 0
    called: list[Any] = []

    @raft.rpc_handler(raft.APPEND_ENTRIES, node_id="n3",
                      links=lambda m: called.append(m) or carriers)  # fmt: skip
    def handle(message: dict[str, Any]) -> None:
        pass

    handle(dict(UNSAMPLED))
    assert counted.reads == 0
    assert called == []
    assert obskit_capture.find(APPEND) == []
    assert obskit_capture.find("raft.apply") == []

    # The same links on spans that record are read and kept.
    with raft.client_call(raft.APPEND_ENTRIES, {}, node_id="n1", peer_id="n2", links=carriers):
        pass
    assert counted.reads >= len(carriers)
    (client,) = obskit_capture.find(APPEND)
    assert [link.context.trace_id for link in client.links] == [int("3" * 32, 16)] * 5


def test_links_past_the_cap_are_counted_as_dropped(obskit_capture) -> None:
    proposals = [raft.propose("n1") for _ in range(raft.MAX_LINKS + 30)]
    carriers = [p.inject({}) for p in proposals]
    with raft.client_call(raft.APPEND_ENTRIES, {}, node_id="n1", peer_id="n2", links=carriers):
        pass
    with raft.server_call(raft.APPEND_ENTRIES, {}, node_id="n2", peer_id="n1", links=carriers):
        pass
    with raft.apply("n2", carriers=carriers[:-25]):
        pass
    for p in proposals:
        p.commit()
    for span in obskit_capture.find(APPEND):
        assert len(span.links) == raft.MAX_LINKS
        assert span.dropped_links == 30
    (applied,) = obskit_capture.find("raft.apply")
    assert (len(applied.links), applied.dropped_links) == (raft.MAX_LINKS, 5)


def test_ended_proposals_passed_as_links_are_counted_as_dropped(obskit_capture) -> None:
    committed, failed, live = raft.propose("n1"), raft.propose("n1"), raft.propose("n1")
    committed.commit(index=1)
    failed.fail("not_leader")
    with raft.client_call(raft.APPEND_ENTRIES, {}, node_id="n1", peer_id="n2",
                          links=[committed, live, failed]):  # fmt: skip
        pass
    with raft.server_call(raft.APPEND_ENTRIES, {}, node_id="n2", peer_id="n1",
                          links=[committed]):  # fmt: skip
        pass
    live.commit(index=2)
    (client,) = [s for s in obskit_capture.find(APPEND) if s.kind is SpanKind.CLIENT]
    (server,) = [s for s in obskit_capture.find(APPEND) if s.kind is SpanKind.SERVER]
    live_span = next(s for s in obskit_capture.find("raft.propose")
                     if s.attributes.get("raft.log.index") == 2)  # fmt: skip
    assert [link.context.span_id for link in client.links] == [live_span.context.span_id]
    assert client.dropped_links == 2
    assert (len(server.links), server.dropped_links) == (0, 1)
    # A carrier keeps the link after the proposal ended (inject() still works then).
    with raft.client_call(raft.APPEND_ENTRIES, {}, node_id="n1", peer_id="n3",
                          links=[committed.inject({})]):  # fmt: skip
        pass
    last = obskit_capture.find(APPEND)[-1]
    assert (len(last.links), last.dropped_links) == (1, 0)


def test_rpc_handler_links_the_batch_it_handles(obskit_capture) -> None:
    proposals = [raft.propose("n1") for _ in range(3)]
    message = {"term": 2, "entries": [{"trace": p.inject({})} for p in proposals]}

    class Node:
        @raft.rpc_handler(raft.APPEND_ENTRIES, node_id="n2",
                          links=lambda m: [e["trace"] for e in m["entries"]])  # fmt: skip
        async def on_append(self, message: dict[str, Any]) -> int:
            return len(message["entries"])

    import asyncio

    assert asyncio.run(Node().on_append(message)) == 3
    for p in proposals:
        p.commit()
    (server,) = obskit_capture.find(APPEND)
    assert {link.context.span_id for link in server.links} == {
        s.context.span_id for s in obskit_capture.find("raft.propose")
    }
