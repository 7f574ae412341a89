"""Build-time tools: never imported by obskit's recording path.

The `obskit` command (cli), the catalogue page, Grafana dashboards and Prometheus rules
(grafana, dashboards, alerts, recording, alert_docs), the fleet's tail-sampling policy and
collector tier, the packaged files (shipped), PromQL reading (promql) and the run report's
statistics and plot.
"""
