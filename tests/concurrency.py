"""Real threads started together against the real database (concurrency tests)."""
from __future__ import annotations

import threading
from collections.abc import Callable

from crm.extensions import db


def run_threads(app, n: int, work: Callable[[int], object], *, timeout: float = 90) -> list:
    """Run work(i) for i in range(n) in n threads released at once by a barrier.

    Each thread has its own app context and transaction: it commits what `work` did, or rolls
    back and records the exception as its result (the assertions look at them).
    """
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def target(i: int) -> None:
        with app.app_context():
            try:
                barrier.wait()
                results[i] = work(i)
                db.session.commit()
            except Exception as error:  # noqa: BLE001 - reported in the assertions
                db.session.rollback()
                results[i] = error
            finally:
                db.session.remove()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return results
