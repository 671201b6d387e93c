"""Several instances of the service on one store and one Redis: the change log catch-up, the shared
registry of live conversations, commands routed to a conversation's owner, and the instance's identity."""
