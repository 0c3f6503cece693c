"""Observability beside the call path: spans (and their OpenTelemetry export), metrics
(always-on endpoint counters and the Prometheus observer), structured logs, and the watchdog
that names a handler blocking the scheduler.

The runtime calls into these through a few objects it is handed (`spans.SpanRecorder`,
`metrics.Metrics`, whose null object costs nothing when off); nothing here imports the
runtime, so what is observed never depends on how it is observed.
"""
