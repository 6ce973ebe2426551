"""The handoff from marketing to sales (DESIGN §7): routing MQLs to owners, SLA clocks,
notifications through a durable outbox, sales feedback, segments for nurture and the
re-engagement of placed candidates."""
