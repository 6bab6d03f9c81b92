"""The Redis broker transport, with a guard that keeps the worker alive when Redis goes away (S-21, §6 Faults).

Cause (kombu 5.6/5.7 with redis-py 8.1, the same code path in both): when the worker's broker
connection is closed after Redis died, kombu's Connection drops its transport's back-reference
(`Connection._do_close_transport` sets `transport.client = None`). A channel closed after that
(`Channel.close` -> `QoS.restore_unacked_once` -> `restore_unacked` -> `conn_or_acquire` ->
`_create_client` -> `_connparams`) reads `self.connection.client.hostname` and raises
`AttributeError: 'NoneType' object has no attribute 'hostname'`. That is no connection error, so
Celery takes it as "Unrecoverable" and the worker process exits. Upstream reports of the same
path (restore_unacked going through conn_or_acquire on a closed connection): celery/kombu#970
(https://github.com/celery/kombu/issues/970); newer kombu has no fix for it yet (5.7.0 is the newest).

The guard: when the transport has no connection any more, the unacknowledged messages are not
restored from memory. They are still listed in Redis's unacked index and come back by the visibility
timeout (if Redis kept its data); what matters more does not depend on the broker at all: every
e-mail's next attempt is in its row (the notification sweeper) and a stalled import is re-queued
by its heartbeat (crm.sales.imports.tasks).
"""
from __future__ import annotations

import logging

from kombu.transport import redis as kombu_redis

log = logging.getLogger(__name__)

# broker_transport for redis:// and rediss:// broker URLs (crm.celery_app).
TRANSPORT = "crm.broker:Transport"


class QoS(kombu_redis.QoS):
    """Redis QoS whose restore of unacknowledged messages tolerates a connection that is already closed."""

    def restore_unacked(self, client=None):
        transport = getattr(self.channel, "connection", None)
        if client is None and getattr(transport, "client", None) is None:
            log.warning("broker connection already closed: %d unacknowledged message(s) are left to the "
                        "broker's visibility timeout and the database sweepers", len(self._delivered))
            self._delivered.clear()
            return None
        return super().restore_unacked(client)


class Channel(kombu_redis.Channel):
    """Redis channel using the guarded QoS."""

    QoS = QoS


class Transport(kombu_redis.Transport):
    """kombu's Redis transport with the guarded channel."""

    Channel = Channel
