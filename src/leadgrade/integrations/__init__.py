"""Recruiting integrations (DESIGN §8, docs/integrations.md): Greenhouse webhooks in,
Bullhorn's event subscription and Jobvite polled, HubSpot and Salesforce exports imported.
Each reads its vendor's format into :class:`~leadgrade.integrations.apply.Change` objects
that :class:`~leadgrade.integrations.apply.Applier` applies once, with protected
attributes stripped at the door (:mod:`leadgrade.integrations.strip`)."""
