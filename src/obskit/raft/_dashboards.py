"""The Grafana panels and Prometheus alerts fed by the Raft metrics.

Data, like the catalogue they read (obskit.raft._names): the dashboards and alert rule
files are generated from them by `python -m obskit._tools.dashboards`.
"""

from __future__ import annotations

from typing import Final

from obskit.raft._names import FAILOVER_ALERT_SECONDS, REPLICATION_LAG_ALERT_ENTRIES

__all__ = ["ALERTS", "PANELS"]

#: Grafana panels (PromQL over the Prometheus names) for the Raft dashboard.
PANELS: Final = (
    {"title": "Leader present", "unit": "none", "type": "stat",
     "expr": "min(raft_leader_present)"},
    {"title": "Leader by node", "unit": "none", "type": "timeseries",
     "expr": "max by (raft_node_id) (raft_node_is_leader)"},
    {"title": "Leader as seen by each node", "unit": "none", "type": "table",
     "expr": "max by (raft_node_id, raft_leader_id) (raft_leader_info)"},
    {"title": "Distinct leaders believed in (split view when > 1)", "unit": "none",
     "type": "stat",
     "expr": "count by (job) (count by (job, raft_leader_id) (raft_leader_info))"},
    {"title": "Term", "unit": "none", "type": "timeseries",
     "expr": "max by (raft_node_id) (raft_term)"},
    {"title": "Leader changes (per hour)", "unit": "none", "type": "timeseries",
     "expr": "sum by (raft_node_id) (increase(raft_leader_changes_total[1h]))"},
    {"title": "Elections by outcome", "unit": "ops", "type": "timeseries",
     "expr": "sum by (raft_election_outcome) (rate(raft_elections_total[5m]))"},
    {"title": "Proposals committed / failed", "unit": "ops", "type": "timeseries",
     "expr": "sum(rate(raft_proposals_committed_total[1m]))",
     "extra": ["sum by (error_type) (rate(raft_proposals_failed_total[1m]))"]},
    {"title": "Pending proposals", "unit": "none", "type": "timeseries",
     "expr": "sum by (raft_node_id) (raft_proposal_pending)"},
    {"title": "Commit latency p99", "unit": "s", "type": "timeseries",
     "expr": "histogram_quantile(0.99, sum by (le) (rate(raft_commit_duration_seconds_bucket[5m])))"},
    {"title": "Commit / applied lag (entries)", "unit": "none", "type": "timeseries",
     "expr": "max by (raft_node_id) (raft_log_commit_index - raft_log_applied_index)"},
    {"title": "Slowest node behind the cluster commit (entries)", "unit": "none",
     "type": "timeseries",
     "expr": "max(raft_log_commit_index) - min(raft_log_applied_index)"},
    {"title": "AppendEntries round trip p99 by peer", "unit": "s", "type": "timeseries",
     "expr": 'histogram_quantile(0.99, sum by (le, raft_peer_id) '
             '(rate(rpc_client_call_duration_seconds_bucket{rpc_method="AppendEntries"}[5m])))'},
    {"title": "Last contact age by peer", "unit": "s", "type": "timeseries",
     "expr": "max by (raft_node_id, raft_peer_id) (raft_peer_last_contact_seconds)"},
    {"title": "Log append / fsync p99", "unit": "s", "type": "timeseries",
     "expr": "histogram_quantile(0.99, sum by (le) (rate(raft_log_append_duration_seconds_bucket[5m])))",
     "extra": ["histogram_quantile(0.99, sum by (le) (rate(raft_log_sync_duration_seconds_bucket[5m])))"]},
    {"title": "Replication lag by follower (entries)", "unit": "none", "type": "timeseries",
     "expr": "max by (raft_node_id, raft_peer_id) (raft_replication_lag)"},
    {"title": "Failover time p99", "unit": "s", "type": "timeseries",
     "expr": "histogram_quantile(0.99, sum by (le) (rate(raft_failover_duration_seconds_bucket[1h])))"},
)  # fmt: skip

#: Alert-worthy conditions as PromQL (fire when the expression returns series). One Raft
#: cluster is one Prometheus `job`: every rule keeps `job`, so two clusters (whose node ids
#: are often the same n1, n2, n3) are never mixed.
ALERTS: Final = (
    {"alert": "RaftNoLeader", "for": "1m", "severity": "critical",
     "expr": "max by (job, raft_node_id) (raft_leader_present) == 0",
     "summary": "A Raft node has seen no leader for a minute"},
    {"alert": "RaftFrequentLeaderChanges", "for": "0m", "severity": "warning",
     # Every node counts each change it sees: the most any node saw, not the sum over nodes.
     "expr": "max by (job) (increase(raft_leader_changes_total[15m])) > 3",
     "summary": "More than 3 leader changes in 15 minutes"},
    {"alert": "RaftSplitLeaderView", "for": "1m", "severity": "critical",
     "expr": "count by (job) (count by (job, raft_leader_id) (raft_leader_info)) > 1",
     "summary": "Nodes disagree on who the leader is",
     "description": "{{ $value }} different leaders are believed in at once in "
                    "{{ $labels.job }} "
                    "(raft_leader_info by raft_leader_id): a partition or a stale node "
                    "that missed the last election. Compare raft_term across nodes and "
                    "check peer contact ages."},
    {"alert": "RaftProposalFailures", "for": "5m", "severity": "warning",
     "expr": "sum by (job) (rate(raft_proposals_failed_total[5m])) > 0",
     "summary": "Proposals are failing"},
    {"alert": "RaftPeerUnreachable", "for": "1m", "severity": "warning",
     "expr": "max by (job, raft_node_id, raft_peer_id) (raft_peer_last_contact_seconds) > 10",
     "summary": "No contact with a peer for more than 10 s"},
    {"alert": "RaftSlowFailover", "for": "0m", "severity": "warning",
     "expr": "histogram_quantile(0.99, sum by (job, le) "
             f"(increase(raft_failover_duration_seconds_bucket[1h]))) > {FAILOVER_ALERT_SECONDS}",
     "summary": f"Failovers took more than {FAILOVER_ALERT_SECONDS} s (p99, last hour)",
     "description": "Nodes waited {{ $value }} s (p99) from their last contact with the old "
     "leader to knowing a new one: writes stall that long. Check election timeouts, that a "
     "majority can reach each other, and the raft.election spans in Jaeger."},
    {"alert": "RaftFollowerLagging", "for": "5m", "severity": "warning",
     "expr": "max by (job, raft_node_id, raft_peer_id) (raft_replication_lag) "
             f"> {REPLICATION_LAG_ALERT_ENTRIES}",
     "summary": f"A follower is more than {REPLICATION_LAG_ALERT_ENTRIES} entries behind",
     "description": "Follower {{ $labels.raft_peer_id }} is {{ $value }} entries behind leader "
     "{{ $labels.raft_node_id }}: it is slow or unreachable, and one more failure may cost "
     "the quorum. Compare its raft_log_sync_duration_seconds and AppendEntries round trips."},
)  # fmt: skip
