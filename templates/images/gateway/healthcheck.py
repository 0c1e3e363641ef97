"""The runtime image's HEALTHCHECK: GET /health on the port this container's gateway serves.

The address comes from the gateway's own settings (SERVICE_TYPE, SMARTFLOW_HOST,
SMARTFLOW_PORT), so the check never disagrees with the server about where it listens.
"""

from __future__ import annotations

import sys
import urllib.request

from gateway.settings import SettingsError, load_settings

_ANY = ("", "0.0.0.0", "::")


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"healthcheck: {exc}")
        return 1
    host = "127.0.0.1" if settings.host in _ANY else settings.host
    url = f"http://{f'[{host}]' if ':' in host else host}:{settings.port}/health"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"healthcheck: {url}: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
