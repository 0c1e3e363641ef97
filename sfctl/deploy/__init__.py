"""Building and deploying the gateway: the runtime image and the stack images (`build`), and the
pieces deploy, upgrade, rollback and verify share. Pure functions where possible; the Docker
engine is reached only through `engine` (python-on-whales)."""
