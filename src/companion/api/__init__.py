"""Thin HTTP and WebSocket routes over the services."""
