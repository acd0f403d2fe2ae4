"""Alert channels: one module per way out (Slack, email), one `Channel` interface, one registry.

Shift alerts, the digest (and the corrections to come) all go out through these. Adding a
channel is one module here plus one line in `registry.py` (see docs/alerts.md).
"""
