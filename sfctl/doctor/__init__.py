"""`sfctl doctor`: pre-upgrade and runtime lint for clusters and Compose hosts."""
