"""Fixtures come from the actorbus pytest plugin (actorbus.testing): app, bus, plane, nats_url."""
