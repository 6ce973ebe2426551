"""Compliance and privacy (DESIGN §9): consent and quiet hours, opt-outs, export and
erasure with tombstones, retention."""
