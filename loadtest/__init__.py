"""Load-test tooling: the RPS comparison harness and the bare pass-through proxy (its baseline).

`sfctl bench` is its front end. It reaches the gateway only over HTTP, never by import.
"""
