"""`python -m tests.faults.report RESULTS.jsonl docs/reliability.md`: the fault-test figures as a table.

`make faults` runs tests/faults several times on SQLite and PostgreSQL with CRM_FAULT_REPORT set,
then this rewrites the table between the markers in docs/reliability.md.
"""
from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

BEGIN, END = "<!-- faults:begin -->", "<!-- faults:end -->"

TITLES = {
    "test_redis_killed_while_retries_are_pending": "Redis kill -9 while e-mail retries wait (real worker and beat)",
    "test_database_connections_terminated_while_sending": "pg_terminate_backend on the worker while sending e-mail",
    "test_a_read_that_lost_its_connection_is_served_on_a_fresh_one": "pg_terminate_backend inside a web request",
    "test_lead_api_burst_while_redis_is_killed": "Redis kill -9 during a burst of lead API posts (leads)",
    "test_a_worker_killed_mid_import_is_replaced_and_the_job_resumes":
        "Worker SIGKILLed mid-import, resumed by the beat sweep (rows)",
    "test_smtp_down_longer_than_the_backoff_chain_while_the_worker_is_replaced":
        "SMTP down longer than the backoff chain, worker replaced meanwhile (real beat)",
}


def table(lines: list[dict]) -> str:
    totals: dict[tuple[str, str], collections.Counter] = collections.defaultdict(collections.Counter)
    for line in lines:
        total = totals[(line["scenario"], line["database"])]
        total["trials"] += 1
        for key in ("items", "lost", "doubled", "server_errors"):
            total[key] += line[key]
    rows = ["| Fault | Database | Trials | Items | Lost | Doubled | 5xx |", "|---|---|---|---|---|---|---|"]
    for (scenario, database), total in sorted(totals.items()):
        rows.append(f"| {TITLES.get(scenario, scenario)} | {database} | {total['trials']} | {total['items']} | "
                    f"{total['lost']} | {total['doubled']} | {total['server_errors']} |")
    return "\n".join(rows)


def main(results: str, document: str) -> int:
    lines = [json.loads(raw) for raw in Path(results).read_text().splitlines() if raw.strip()]
    path = Path(document)
    text = path.read_text()
    head, rest = text.split(BEGIN, 1)
    _old, tail = rest.split(END, 1)
    path.write_text(f"{head}{BEGIN}\n{table(lines)}\n{END}{tail}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
