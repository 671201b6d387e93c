"""Live conversations with a realtime model: wire protocol, upstream connectors, sessions."""
