"""Helpers shared by the test suite: real servers on loopback, started and stopped by tests."""
