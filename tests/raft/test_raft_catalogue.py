"""Everything obskit.raft emits is declared in its catalogue; panels use declared metrics."""

from __future__ import annotations

import re

from obskit import raft
from obskit._tools import catalogue as _catalogue


def _workload() -> None:
    raft.update_state("n1", term=2, role="leader", leader_id="n1", commit_index=3,
                      applied_index=3, last_index=3, log_length=3)  # fmt: skip
    with raft.election("n1", term=2, votes_needed=2) as election:
        with raft.client_call(raft.REQUEST_VOTE, {}, node_id="n1", peer_id="n2") as vote:
            vote.response(vote_granted=True, term=2)
        election.vote_granted("n2")
    with raft.propose("n1", term=2) as proposal:
        message = {"entries": [proposal.inject({})]}
        with raft.client_call(raft.APPEND_ENTRIES, message, node_id="n1", peer_id="n2",
                              term=2, prev_index=2, prev_term=2, commit_index=2,
                              first_index=3, last_index=3, entries=1, address="127.0.0.1",
                              port=7001) as call:  # fmt: skip
            with raft.server_call(raft.APPEND_ENTRIES, message, node_id="n2", peer_id="n1",
                                  term=2, entries=1) as served:  # fmt: skip
                served.response(success=False, reject_reason="log_mismatch")
            call.response(success=True)
        proposal.commit(3)
    raft.propose("n1").fail("not_leader")
    with raft.apply("n2", first_index=3, last_index=3, carriers=message["entries"]):
        pass
    with raft.create_snapshot("n1", index=3, term=2, size=10):
        pass
    with raft.install_snapshot("n2", peer_id="n1", index=3, term=2, size=10):
        pass
    with raft.log_append("n1", term=2, first_index=3, last_index=3), raft.log_sync("n1"):
        pass
    raft.record_replication("n1", "n2", 2)
    raft.update_state("n3", role="follower", leader_id="n1")
    raft.update_state("n3", leader_id="n2")  # a failover seen by n3


def _name_matches(pattern: str, name: str) -> bool:
    return re.fullmatch(re.escape(pattern).replace(r"\{method\}", "[A-Za-z]+"), name) is not None


def test_every_emitted_name_is_declared(obskit_capture) -> None:
    _workload()
    cat = raft.CATALOGUE
    declared = set(cat.attributes_by_key)
    assert obskit_capture.spans
    for span in obskit_capture.spans:
        specs = [s for s in cat.spans if _name_matches(s.name, span.name) and s.kind == span.kind]
        assert specs, f"span {span.name} ({span.kind}) is not in the catalogue"
        allowed = set().union(*(s.attributes for s in specs))
        assert set(span.attributes) <= allowed, (span.name, set(span.attributes) - allowed)
        for event in span.events:
            if event.name != "exception":
                spec = next(e for e in cat.events if e.name == event.name)
                assert set(event.attributes) <= set(spec.attributes)
    points = obskit_capture.metrics()
    emitted = {p.name for p in points if p.scope == cat.scope}
    assert emitted == set(cat.instruments_by_name), set(cat.instruments_by_name) ^ emitted
    for point in points:
        if point.scope == cat.scope:
            spec = cat.instruments_by_name[point.name]
            assert set(point.attributes) <= set(spec.attributes), point
            assert set(point.attributes) <= declared
            assert point.unit == spec.unit


def test_panels_and_alerts_use_declared_prometheus_names() -> None:
    names = {i.prometheus_name for i in raft.CATALOGUE.instruments}
    names |= {f"{i.prometheus_name}_{s}" for i in raft.CATALOGUE.instruments
              if i.kind == "histogram" for s in ("bucket", "sum", "count")}  # fmt: skip
    labels = {k.replace(".", "_") for k in raft.CATALOGUE.attributes_by_key} | {"le"}
    for entry in [*raft.PANELS, *raft.ALERTS]:
        for expr in [entry["expr"], *entry.get("extra", [])]:
            for token in re.findall(r"\b(?:raft|rpc)_[a-z_]+\b", expr):
                assert token in names or token in labels, (token, expr)


def test_markdown_renders_the_domain() -> None:
    text = _catalogue.render_markdown([raft.CATALOGUE])
    assert "`raft_proposals_committed_total`" in text
    assert "`raft.Raft/{method}`" in text
