"""The Raft domain's vocabulary, declared once: names and the catalogue.

Metric names learn from etcd (`etcd_server_has_leader`, `leader_changes_seen`,
`proposals_*`) and hashicorp/raft (`commitTime`, `Stats()` keys), without their mistakes
(no gauge named `*_total`, the peer is an attribute, not part of the metric key). RPC spans
and the RPC duration histograms follow the OpenTelemetry RPC conventions. See
docs/raft.md. The panels and alerts that read these metrics are in
obskit.raft._dashboards.
"""

from __future__ import annotations

from typing import Final

from opentelemetry.trace import SpanKind

from obskit._base.names import ERROR_TYPE
from obskit._domain.catalogue import Attribute, Catalogue, EventSpec, Instrument, SpanSpec

# --- attributes -------------------------------------------------------------------------
NODE_ID: Final = "raft.node.id"
PEER_ID: Final = "raft.peer.id"
TERM: Final = "raft.term"
ROLE: Final = "raft.role"
ROLE_PREVIOUS: Final = "raft.role.previous"
LEADER_ID: Final = "raft.leader.id"
LOG_INDEX: Final = "raft.log.index"
PREV_LOG_INDEX: Final = "raft.log.prev_index"
PREV_LOG_TERM: Final = "raft.log.prev_term"
COMMIT_INDEX: Final = "raft.commit.index"
BATCH_FIRST_INDEX: Final = "raft.batch.first_index"
BATCH_LAST_INDEX: Final = "raft.batch.last_index"
BATCH_ENTRY_COUNT: Final = "raft.batch.entry_count"
RESPONSE_SUCCESS: Final = "raft.response.success"
REJECT_REASON: Final = "raft.reject.reason"
VOTE_GRANTED: Final = "raft.vote.granted"
VOTE_RESULT: Final = "raft.vote.result"
ELECTION_OUTCOME: Final = "raft.election.outcome"
ELECTION_VOTES_GRANTED: Final = "raft.election.votes_granted"
ELECTION_VOTES_NEEDED: Final = "raft.election.votes_needed"
ELECTION_VOTES_DENIED: Final = "raft.election.votes_denied"
ELECTION_VOTES_UNANSWERED: Final = "raft.election.votes_unanswered"
SNAPSHOT_OPERATION: Final = "raft.snapshot.operation"
SNAPSHOT_INDEX: Final = "raft.snapshot.index"
SNAPSHOT_TERM: Final = "raft.snapshot.term"
SNAPSHOT_SIZE: Final = "raft.snapshot.size"
# OpenTelemetry RPC conventions (schema 1.37, the one obskit's tracers declare).
RPC_SYSTEM: Final = "rpc.system"
RPC_SERVICE: Final = "rpc.service"
RPC_METHOD: Final = "rpc.method"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"

# --- attribute values --------------------------------------------------------------------
ROLES: Final = ("follower", "candidate", "leader", "learner")
OUTCOME_WON: Final = "won"
OUTCOME_LOST: Final = "lost"
VOTE_DENIED: Final = "denied"
VOTE_UNANSWERED: Final = "unanswered"
SNAPSHOT_CREATE: Final = "create"
SNAPSHOT_INSTALL: Final = "install"
#: `error.type` of a proposal that ended without committing and without an exception.
FAILED_DEFAULT: Final = "_OTHER"
#: Links one RPC or apply span keeps (the proposals of a batch); more are dropped.
MAX_LINKS: Final = 128

# --- RPC methods (span name = "{rpc.service}/{rpc.method}") -----------------------------
RPC_SERVICE_NAME: Final = "raft.Raft"
APPEND_ENTRIES: Final = "AppendEntries"
REQUEST_VOTE: Final = "RequestVote"
INSTALL_SNAPSHOT: Final = "InstallSnapshot"
DEFAULT_RPC_SYSTEM: Final = "raft"

# --- spans and events --------------------------------------------------------------------
SPAN_ELECTION: Final = "raft.election"
SPAN_PROPOSE: Final = "raft.propose"
SPAN_APPLY: Final = "raft.apply"
SPAN_SNAPSHOT_CREATE: Final = "raft.snapshot.create"
SPAN_SNAPSHOT_INSTALL: Final = "raft.snapshot.install"
SPAN_STATE_CHANGE: Final = "raft.state.change"
SPAN_LOG_APPEND: Final = "raft.log.append"
SPAN_LOG_SYNC: Final = "raft.log.sync"
EVENT_ROLE_CHANGED: Final = "raft.role.changed"
EVENT_LEADER_CHANGED: Final = "raft.leader.changed"
EVENT_VOTE_GRANTED: Final = "raft.vote.granted"
EVENT_VOTE_REFUSED: Final = "raft.vote.refused"

# --- metrics -----------------------------------------------------------------------------
M_TERM: Final = "raft.term"
M_ROLE: Final = "raft.node.role"
M_HAS_LEADER: Final = "raft.leader.present"
M_IS_LEADER: Final = "raft.node.is_leader"
M_LEADER_INFO: Final = "raft.leader.info"
M_COMMIT_INDEX: Final = "raft.log.commit_index"
M_APPLIED_INDEX: Final = "raft.log.applied_index"
M_LAST_INDEX: Final = "raft.log.last_index"
M_LOG_ENTRIES: Final = "raft.log.entry.count"
M_LAST_CONTACT: Final = "raft.peer.last_contact"
M_LEADER_CHANGES: Final = "raft.leader.changes"
M_ELECTIONS: Final = "raft.elections"
M_ELECTION_DURATION: Final = "raft.election.duration"
M_COMMITTED: Final = "raft.proposals.committed"
M_FAILED: Final = "raft.proposals.failed"
M_APPLIED: Final = "raft.proposals.applied"
M_PENDING: Final = "raft.proposal.pending"
M_COMMIT_DURATION: Final = "raft.commit.duration"
M_APPLY_DURATION: Final = "raft.apply.duration"
M_SNAPSHOT_DURATION: Final = "raft.snapshot.duration"
M_SNAPSHOT_SIZE: Final = "raft.snapshot.size"
M_LOG_APPEND_DURATION: Final = "raft.log.append.duration"
M_LOG_SYNC_DURATION: Final = "raft.log.sync.duration"
M_REPLICATION_LAG: Final = "raft.replication.lag"
M_FAILOVER_DURATION: Final = "raft.failover.duration"
M_RPC_CLIENT_DURATION: Final = "rpc.client.call.duration"
M_RPC_SERVER_DURATION: Final = "rpc.server.call.duration"

#: Sub-millisecond LAN round trips up to seconds-long fsyncs and elections.
RAFT_BUCKETS: Final = (
    1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
#: Failover: from the last leader contact to a new leader (election timeouts are 0.1-10 s).
FAILOVER_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0)
#: Alert thresholds: a failover slower than this (p99, seconds) and a follower this many
#: entries behind its leader (for five minutes).
FAILOVER_ALERT_SECONDS: Final = 10
REPLICATION_LAG_ALERT_ENTRIES: Final = 1000
#: Snapshot sizes: powers of 4 from 1 KiB to 4 GiB.
SIZE_BUCKETS: Final = tuple(float(1024 * 4**i) for i in range(12))

_RPC = [RPC_SYSTEM, RPC_SERVICE, RPC_METHOD, NODE_ID, PEER_ID]
_SEMCONV = "semconv"

CATALOGUE: Final = Catalogue(
    domain="raft",
    title="Raft consensus (obskit.raft)",
    attributes=[
        Attribute(NODE_ID, "string", "This node's id", "n1", "etcd etcd_server_id"),
        Attribute(PEER_ID, "string", "The other node of an RPC or contact", "n2", "hashicorp peer_id"),
        Attribute(TERM, "int", "Raft term the node is in (or of the message)", 7),
        Attribute(ROLE, "string", "Node role: follower, candidate, leader, learner", "leader"),
        Attribute(ROLE_PREVIOUS, "string", "Role before a role change", "candidate"),
        Attribute(LEADER_ID, "string", "The leader this node follows", "n1"),
        Attribute(LOG_INDEX, "int", "Log index of one entry (spans only)", 10423),
        Attribute(PREV_LOG_INDEX, "int", "AppendEntries prevLogIndex", 10422),
        Attribute(PREV_LOG_TERM, "int", "AppendEntries prevLogTerm", 7),
        Attribute(COMMIT_INDEX, "int", "Leader commit index carried by the message", 10420),
        Attribute(BATCH_FIRST_INDEX, "int", "First log index in the message or apply batch", 10421),
        Attribute(BATCH_LAST_INDEX, "int", "Last log index in the message or apply batch", 10423),
        Attribute(BATCH_ENTRY_COUNT, "int", "Entries carried or applied", 3),
        Attribute(RESPONSE_SUCCESS, "boolean", "AppendEntries accepted", True),
        Attribute(REJECT_REASON, "string", "Why a request was rejected", "log_mismatch"),
        Attribute(VOTE_GRANTED, "boolean", "RequestVote granted", True),
        Attribute(ELECTION_OUTCOME, "string", "won or lost", "won"),
        Attribute(ELECTION_VOTES_GRANTED, "int", "Votes received, own vote included", 2),
        Attribute(ELECTION_VOTES_NEEDED, "int", "Votes needed for a majority", 2),
        Attribute(ELECTION_VOTES_DENIED, "int", "Peers that answered no", 1),
        Attribute(ELECTION_VOTES_UNANSWERED, "int", "Peers that never answered", 1),
        Attribute(VOTE_RESULT, "string", "A vote not granted: denied or unanswered", "denied"),
        Attribute(SNAPSHOT_OPERATION, "string", "create or install", "create"),
        Attribute(SNAPSHOT_INDEX, "int", "Last log index the snapshot covers", 10000),
        Attribute(SNAPSHOT_TERM, "int", "Term of that index", 7),
        Attribute(SNAPSHOT_SIZE, "int", "Snapshot size in bytes", 1048576),
        Attribute(RPC_SYSTEM, "string", "RPC system (custom transports: raft)", "raft", _SEMCONV),
        Attribute(RPC_SERVICE, "string", "RPC service", "raft.Raft", _SEMCONV),
        Attribute(RPC_METHOD, "string", "RPC method", "AppendEntries", _SEMCONV),
        Attribute(SERVER_ADDRESS, "string", "Peer address", "127.0.0.1", _SEMCONV),
        Attribute(SERVER_PORT, "int", "Peer port", 7001, _SEMCONV),
        Attribute(ERROR_TYPE, "string", "Failure class", "not_leader", _SEMCONV),
    ],
    spans=[
        SpanSpec(SPAN_ELECTION, "From becoming candidate to winning or losing",
                 attributes=[NODE_ID, TERM, ELECTION_OUTCOME, ELECTION_VOTES_GRANTED,
                             ELECTION_VOTES_NEEDED, ELECTION_VOTES_DENIED,
                             ELECTION_VOTES_UNANSWERED],
                 events=[EVENT_VOTE_GRANTED, EVENT_VOTE_REFUSED]),
        SpanSpec(f"{RPC_SERVICE_NAME}/{{method}}", "Sending an RPC (AppendEntries, "
                 "RequestVote, InstallSnapshot); injects the trace context into the message; "
                 "links to the proposals of a batch (at most 128)",
                 SpanKind.CLIENT, [*_RPC, TERM, PREV_LOG_INDEX, PREV_LOG_TERM, COMMIT_INDEX,
                                   BATCH_FIRST_INDEX, BATCH_LAST_INDEX, BATCH_ENTRY_COUNT,
                                   RESPONSE_SUCCESS, VOTE_GRANTED, REJECT_REASON,
                                   SERVER_ADDRESS, SERVER_PORT, ERROR_TYPE]),
        SpanSpec(f"{RPC_SERVICE_NAME}/{{method}}", "Handling an RPC; child of the sender's "
                 "CLIENT span through the context carried in the message; links to the "
                 "proposals of a batch (at most 128)",
                 SpanKind.SERVER, [*_RPC, TERM, PREV_LOG_INDEX, PREV_LOG_TERM, COMMIT_INDEX,
                                   BATCH_FIRST_INDEX, BATCH_LAST_INDEX, BATCH_ENTRY_COUNT,
                                   RESPONSE_SUCCESS, VOTE_GRANTED, REJECT_REASON, ERROR_TYPE]),
        SpanSpec(SPAN_PROPOSE, "A client write from proposal to quorum commit",
                 attributes=[NODE_ID, TERM, LOG_INDEX, ERROR_TYPE]),
        SpanSpec(SPAN_APPLY, "Applying committed entries to the state machine; links to "
                 "each entry's proposal", attributes=[NODE_ID, BATCH_FIRST_INDEX,
                                                      BATCH_LAST_INDEX, BATCH_ENTRY_COUNT]),
        SpanSpec(SPAN_SNAPSHOT_CREATE, "Taking a snapshot of the state machine",
                 attributes=[NODE_ID, SNAPSHOT_INDEX, SNAPSHOT_TERM, SNAPSHOT_SIZE]),
        SpanSpec(SPAN_SNAPSHOT_INSTALL, "Installing a snapshot received from the leader",
                 attributes=[NODE_ID, PEER_ID, SNAPSHOT_INDEX, SNAPSHOT_TERM, SNAPSHOT_SIZE]),
        SpanSpec(SPAN_STATE_CHANGE, "A role or leader change seen while no span was recording "
                 "(a short span of its own, so the change still reaches the trace backend)",
                 attributes=[NODE_ID, TERM, ROLE, LEADER_ID],
                 events=[EVENT_ROLE_CHANGED, EVENT_LEADER_CHANGED]),
        SpanSpec(SPAN_LOG_APPEND, "Writing entries to the log (leader: under raft.propose, "
                 "follower: under the AppendEntries SERVER span)",
                 attributes=[NODE_ID, TERM, BATCH_FIRST_INDEX, BATCH_LAST_INDEX,
                             BATCH_ENTRY_COUNT, ERROR_TYPE]),
        SpanSpec(SPAN_LOG_SYNC, "Making the log durable (fsync); a child of raft.log.append "
                 "when nested", attributes=[NODE_ID, BATCH_LAST_INDEX, ERROR_TYPE]),
    ],
    events=[
        EventSpec(EVENT_ROLE_CHANGED, "The node changed role", [NODE_ID, ROLE, ROLE_PREVIOUS, TERM]),
        EventSpec(EVENT_LEADER_CHANGED, "The node saw a new leader", [NODE_ID, LEADER_ID, TERM]),
        EventSpec(EVENT_VOTE_GRANTED, "A peer granted its vote", [PEER_ID]),
        EventSpec(EVENT_VOTE_REFUSED, "A peer denied its vote or never answered",
                  [PEER_ID, VOTE_RESULT, TERM]),
    ],
    instruments=[
        Instrument(M_TERM, "observable_gauge", "{term}", "Current term", [NODE_ID]),
        Instrument(M_ROLE, "observable_up_down_counter", "{node}",
                   "Role state set: 1 for the current role, 0 for the others", [NODE_ID, ROLE]),
        Instrument(M_HAS_LEADER, "observable_gauge", "{leader}",
                   "1 when the node knows a leader (etcd has_leader)", [NODE_ID]),
        Instrument(M_IS_LEADER, "observable_gauge", "{leader}",
                   "1 when the node is the leader (etcd is_leader)", [NODE_ID]),
        Instrument(M_LEADER_INFO, "observable_gauge", "{leader}",
                   "Info-style: 1 for the leader this node believes in (none when it knows "
                   "no leader); more than one raft.leader.id at once is a split view",
                   [NODE_ID, LEADER_ID]),
        Instrument(M_COMMIT_INDEX, "observable_gauge", "{entry}", "Commit index", [NODE_ID]),
        Instrument(M_APPLIED_INDEX, "observable_gauge", "{entry}", "Applied index", [NODE_ID]),
        Instrument(M_LAST_INDEX, "observable_gauge", "{entry}", "Last log index", [NODE_ID]),
        Instrument(M_LOG_ENTRIES, "observable_up_down_counter", "{entry}",
                   "Entries held in the log (after compaction)", [NODE_ID]),
        Instrument(M_LAST_CONTACT, "observable_gauge", "s",
                   "Seconds since the last successful exchange with a peer", [NODE_ID, PEER_ID]),
        Instrument(M_LEADER_CHANGES, "counter", "{change}", "Leader changes seen", [NODE_ID]),
        Instrument(M_ELECTIONS, "counter", "{election}", "Elections started, by outcome",
                   [NODE_ID, ELECTION_OUTCOME]),
        Instrument(M_ELECTION_DURATION, "histogram", "s", "Candidate to won/lost",
                   [NODE_ID, ELECTION_OUTCOME], RAFT_BUCKETS),
        Instrument(M_COMMITTED, "counter", "{proposal}", "Proposals committed", [NODE_ID]),
        Instrument(M_FAILED, "counter", "{proposal}", "Proposals that failed",
                   [NODE_ID, ERROR_TYPE]),
        Instrument(M_APPLIED, "counter", "{proposal}", "Entries applied to the state machine",
                   [NODE_ID]),
        Instrument(M_PENDING, "up_down_counter", "{proposal}", "Proposals waiting for commit",
                   [NODE_ID]),
        Instrument(M_COMMIT_DURATION, "histogram", "s",
                   "Proposal to quorum commit (what a client write waits)", [NODE_ID, ERROR_TYPE],
                   RAFT_BUCKETS),
        Instrument(M_APPLY_DURATION, "histogram", "s", "One apply batch",
                   [NODE_ID, ERROR_TYPE], RAFT_BUCKETS),
        Instrument(M_SNAPSHOT_DURATION, "histogram", "s", "Snapshot create or install",
                   [NODE_ID, SNAPSHOT_OPERATION, ERROR_TYPE], RAFT_BUCKETS),
        Instrument(M_SNAPSHOT_SIZE, "histogram", "By", "Snapshot size",
                   [NODE_ID, SNAPSHOT_OPERATION], SIZE_BUCKETS),
        Instrument(M_LOG_APPEND_DURATION, "histogram", "s",
                   "One log append (write of a batch of entries)", [NODE_ID, ERROR_TYPE],
                   RAFT_BUCKETS),
        Instrument(M_LOG_SYNC_DURATION, "histogram", "s",
                   "One log fsync (etcd wal_fsync_duration)", [NODE_ID, ERROR_TYPE],
                   RAFT_BUCKETS),
        Instrument(M_REPLICATION_LAG, "observable_gauge", "{entry}",
                   "Leader only: entries a follower is behind (last index - match index)",
                   [NODE_ID, PEER_ID]),
        Instrument(M_FAILOVER_DURATION, "histogram", "s",
                   "Last contact with the old leader to knowing a new one", [NODE_ID],
                   FAILOVER_BUCKETS),
        Instrument(M_RPC_CLIENT_DURATION, "histogram", "s",
                   "RPC round trip per peer and method (AppendEntries RTT)",
                   [*_RPC, ERROR_TYPE], RAFT_BUCKETS),
        Instrument(M_RPC_SERVER_DURATION, "histogram", "s", "RPC handling time",
                   [*_RPC, ERROR_TYPE], RAFT_BUCKETS),
    ],
)  # fmt: skip
