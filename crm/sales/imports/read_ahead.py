"""Read and parse an import's sheet in a forked process while the worker saves the batches before.

Reading the workbook and checking its rows is pure Python that depends on nothing saved
(crm.sales.imports.feed); in a thread it only traded places with the saving for the
interpreter lock. A child process has its own: while the worker waits for the database on one
core, the child reads the next batch on the other. The child is forked (a Celery worker's pool
processes are daemonic, which multiprocessing refuses to give children; a fork also inherits
the app, its language and the parsed course list at no cost) and sends each batch down a pipe,
pickled in order, then an end mark. It touches no database or Redis connection and leaves
with `os._exit`, so nothing inherited is closed twice.

Order and failure are those of reading in-process: batches arrive in sheet order; an error in
the child is sent after the batches before it and raised by the worker at the same point; a
child that dies without its end mark fails the job like a reading error, after the batches
saved before. The pipe holds about one batch ahead, so the child's memory is the reader's plus
one batch. When the worker stops early (another runner owns the job) or dies, the child is
killed or its next write fails, and it exits.
"""
from __future__ import annotations

import contextlib
import os
import pickle
import signal
from collections.abc import Callable, Iterator

from crm.core.collector import relax_collector
from crm.sales.imports.feed import Batch

END = "end"


def forking_available() -> bool:
    """Whether this platform forks (Linux, macOS, BSD; not Windows)."""
    return hasattr(os, "fork")


# A stop signal sent to the worker's whole process group or control group (Ctrl-C under `make run`,
# systemd stopping the service) is the worker's to act on: its warm shutdown finishes the job, reading
# the rest from the child. The child ignores these; it leaves when the worker kills it or stops reading.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1")
                     if hasattr(signal, name))


def read_ahead(produce: Callable[[], Iterator[Batch]], width: int) -> Iterator[Batch]:
    """The batches of `produce()`, produced in a forked child while the caller works on earlier ones."""
    read_end, write_end = os.pipe()
    # Blocked across the fork, so none reaches the child before it ignores them.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        _child(produce, width, write_end, mask)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    os.close(write_end)
    try:
        with open(read_end, "rb") as source:
            while True:
                try:
                    kind, item = pickle.load(source)
                except (EOFError, pickle.UnpicklingError):
                    _, status = os.waitpid(pid, 0)
                    pid = 0
                    raise ReaderStopped(status) from None
                if kind == END:
                    return
                if kind == "error":
                    raise item
                yield item
    finally:
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)  # a no-op once it has exited (it is not reaped yet)
            os.waitpid(pid, 0)


class ReaderStopped(RuntimeError):
    """The reading process ended without finishing the sheet (killed, or out of memory)."""

    def __init__(self, status: int):
        super().__init__(f"the process reading the sheet stopped unexpectedly (wait status {status})")


def _child(produce: Callable[[], Iterator[Batch]], width: int, write_end: int, mask) -> None:
    code = 0
    try:
        for number in STOP_SIGNALS:  # see STOP_SIGNALS; and the worker's own handlers are not the child's
            signal.signal(number, signal.SIG_IGN)  # (the forking thread is the child's main thread)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        relax_collector()  # the child's objects: the inherited ones are set aside, so their pages stay shared
        with open(write_end, "wb") as out:
            try:
                for batch in produce():
                    batch.rows = [row.portable(width) for row in batch.rows]
                    pickle.dump(("batch", batch), out, protocol=pickle.HIGHEST_PROTOCOL)
                    out.flush()
                pickle.dump((END, None), out)
            except BrokenPipeError:
                raise
            except Exception as error:  # noqa: BLE001 - raised again in the worker, in order
                pickle.dump(("error", _portable_error(error)), out)
                code = 1
    except BrokenPipeError:  # the worker stopped reading (it stopped, or died)
        code = 0
    except BaseException:  # noqa: BLE001 - nothing of the worker's may run in the child
        code = 1
    finally:
        os._exit(code)


def _portable_error(error: Exception) -> Exception:
    """The child's exception as it can cross the pipe (some exceptions do not pickle)."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:  # noqa: BLE001
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error
