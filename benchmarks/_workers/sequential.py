"""The reference's approach: ``requests.get`` one call after another (no Session)."""

from __future__ import annotations

from typing import Any

from _workers._shared import (
    WORKLOADS,
    base_url,
    credentials,
    measure_end,
    measure_start,
    password_form,
    run_collected,
)


def run(
    pairs: list[tuple[int, int]],
    concurrency: int,
    *,
    workload: str = "audit",
    warmup: int | None = None,
) -> dict[str, Any]:
    import requests

    creds, base = credentials(), base_url()
    routes = WORKLOADS[workload]

    def main() -> dict[str, Any]:
        response = requests.post(
            url=base + "oauth",
            headers={"Origin": creds["origin"]},
            data=password_form(creds),
            timeout=30,
        )
        token = response.json()["access_token"]
        headers = {"Authorization": "Bearer " + token, "Origin": creds["origin"]}
        requests.get(url=base + "fullVersion", headers=headers, timeout=30)  # warm-up
        start = measure_start()
        errors = 0
        for b, c in pairs:
            url = f"{base}bunits/{b}/consumers/{c}"
            try:
                results = []
                for route in routes:
                    response = requests.get(url=url + route, headers=headers, timeout=30)
                    if response.status_code == 404:
                        results.append(None)  # a consumer without a node or a report
                        continue
                    if response.status_code != 200:
                        raise RuntimeError(f"HTTP {response.status_code}")
                    results.append(response.json())
            except Exception:
                errors += 1
        return measure_end(start, len(routes) * len(pairs), failed_audits=errors)

    return run_collected(main)
