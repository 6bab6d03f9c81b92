"""gunicorn settings of the web process: `make run` (Procfile), production and bench/web.py use them.

Threaded workers (gthread) with keep-alive: one process per core runs the Python, and its threads
overlap the waits on PostgreSQL and Redis. Keep-alive lets a browser (or the proxy) reuse its
connection instead of opening one per request, which sync workers cannot (they close the
connection after every response and are held by a slow client for the whole request).
The worker is gthread's with connections spread evenly over the processes and a quieter
garbage collector (crm/core/serving.py).

WEB_CONCURRENCY overrides the number of processes (default: one per CPU core) and WEB_THREADS the
threads per process (default 4; each thread may hold one of SQLAlchemy's pooled database
connections, 5 by default). Anything else: GUNICORN_CMD_ARGS, e.g. "--timeout 60".
"""
import os

worker_class = "crm.core.serving.BalancedThreadWorker"  # gthread, connections spread evenly
workers = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 2)
threads = int(os.environ.get("WEB_THREADS") or 4)
keepalive = 5  # seconds an idle connection stays open for the client's next request
timeout = 30
graceful_timeout = 20
