"""Care: alerts delivered to people (outbox, channels, escalation, acknowledgement) and reminders."""
