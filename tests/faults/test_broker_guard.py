"""17.1: the worker's Redis transport survives a channel closed after its connection (the cause of the worker exit)."""
from __future__ import annotations

import pytest
from kombu import Connection, Exchange, Queue
from kombu.transport import redis as kombu_redis

from crm.broker import TRANSPORT


def close_channel_after_its_connection(url: str, transport) -> int:
    """Hold one unacknowledged message, drop the connection's transport link as kombu does when the
    broker connection is closed, then close the channel; returns the messages still unacked in Redis."""
    connection = Connection(url, transport=transport)
    channel = connection.channel()
    queue = Queue("fault-guard", Exchange("fault-guard"), "fault-guard")
    queue(channel).declare()
    connection.Producer(channel).publish({"n": 1}, exchange=queue.exchange, routing_key="fault-guard",
                                         serializer="json")
    assert channel.basic_get("fault-guard", no_ack=False) is not None
    client = channel.client
    connection._do_close_transport()  # what Connection._close does
    try:
        channel.close()
    finally:
        unacked = client.hlen(channel.unacked_key)
        client.close()
    return unacked


def test_kombu_redis_transport_has_the_bug(private_redis):
    """The cause as the worker met it: AttributeError from _connparams, which Celery treats as unrecoverable."""
    with pytest.raises(AttributeError, match="hostname"):
        close_channel_after_its_connection(private_redis.url, kombu_redis.Transport)


def test_the_guarded_transport_closes_and_leaves_the_message_for_redelivery(private_redis):
    assert close_channel_after_its_connection(private_redis.url, TRANSPORT) == 1


def test_celery_uses_the_guarded_transport(app):
    celery_app = app.extensions["celery"]
    with celery_app.connection_for_read() as connection:
        assert type(connection.transport).__module__ == "crm.broker"
