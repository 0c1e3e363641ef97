"""The A2A gateway."""
