"""A second SDK process for the local-mode end-to-end test (test_local_e2e.py).

``python local_peer.py BASE_URL SDK_API_KEY``: prints ``live`` once local checks
are live; then, for each ``watch <token>`` line on stdin, prints ``valid`` when
the token is valid, and ``rejected <unix time>`` as soon as it is not (checked
every 5 ms, at most 10 s; ``timeout`` otherwise).
"""

from __future__ import annotations

import sys
import time

from uap_client import Client, LocalMode, TokenInvalid


def main() -> None:
    base_url, api_key = sys.argv[1], sys.argv[2]
    with Client(base_url, local=LocalMode(sdk_api_key=api_key, max_backoff_seconds=0.5)) as client:
        print("live" if client.wait_local(20) else "not-live", flush=True)
        for line in sys.stdin:
            command, _, token = line.strip().partition(" ")
            if command != "watch":
                continue
            client.validate(token)
            print(f"valid {client._local.state.cache_len() if client._local else 0}", flush=True)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    client.validate(token)
                except TokenInvalid:
                    print(f"rejected {time.time()}", flush=True)
                    break
                time.sleep(0.005)
            else:
                print("timeout", flush=True)


if __name__ == "__main__":
    main()
