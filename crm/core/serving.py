"""The gunicorn worker of the web process (gunicorn.conf.py): gthread, with even connections and a quiet collector.

Even connections. gunicorn's threaded workers race for each new connection, and a keep-alive
connection then stays with the worker that took it. Nothing keeps the race fair: with 8 clients
on 2 workers of 4 threads, splits of 5/3 and 6/2 are as common as 4/4, and the clients of the
fuller worker wait for its threads while the other worker has some free (a name search's p95
at 8 clients: 57-60 ms split 5/3 or 6/2, 48-50 ms split 4/4, bench/web.py). So a worker that
holds as many connections as it has threads stops listening for a moment after each connection
it takes -- 20 ms per connection beyond its threads, at most 100 ms -- and a worker with room
takes the next ones meanwhile. When every worker is full, a new connection still gets in, at most
that much later, mostly to the worker holding fewer. A lone worker never holds back.

A quiet collector. A page allocates thousands of container objects, so Python's default
collection thresholds (700 young objects) run about one collection per request, and every few
hundred requests a full one over the ~180,000 objects of the loaded application (about
90 ms, every thread of the worker stopped). After the application is loaded, the worker moves
what exists to the permanent generation (gc.freeze) and collects the young generation after
20,000 objects instead: a page leaves next to no cyclic garbage (tests/core/test_template_cycles.py),
so what a collection finds is mostly the requests in flight.
"""
from __future__ import annotations

import gc
import time

from gunicorn.workers.gthread import ThreadWorker

HOLD_BACK_STEP = 0.02  # seconds of not listening per connection held beyond the worker's threads
HOLD_BACK_MAX = 0.1
YOUNG_OBJECTS = 20_000  # gc threshold of the youngest generation (Python's default: 700)


def quiet_collector() -> None:
    """Freeze what the loaded application holds and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_OBJECTS, middle, old)


class BalancedThreadWorker(ThreadWorker):
    """gunicorn's gthread worker that lets a less busy worker take new connections first (see above)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.listen_again_at = 0.0

    def run(self):
        quiet_collector()
        super().run()

    def full(self) -> bool:
        """Whether this worker holds a connection per thread while another worker could take the next."""
        return self.cfg.workers > 1 and self.nr_conns >= self.cfg.threads

    def accept(self, listener):
        before = self.nr_conns
        super().accept(listener)
        if self.nr_conns > before and self.full() and self._accepting:
            excess = self.nr_conns - self.cfg.threads + 1
            self.listen_again_at = time.monotonic() + min(HOLD_BACK_MAX, HOLD_BACK_STEP * excess)
            super().set_accept_enabled(False)

    def set_accept_enabled(self, enabled):
        if enabled and self.full() and time.monotonic() < self.listen_again_at:
            return  # still holding back: run() asks again after the next event or the shortened wait below
        super().set_accept_enabled(enabled)

    def wait_for_and_dispatch_events(self, timeout):
        if not self._accepting and self.alive and self.listen_again_at:
            timeout = min(timeout, max(0.0, self.listen_again_at - time.monotonic()))
        super().wait_for_and_dispatch_events(timeout)
