"""The Kafka clients and asyncpg against the real broker and database."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from safeguard.kernel.clients import consumer_options, producer_options
from safeguard.kernel.settings import Settings


async def test_aiokafka_produces_and_consumes_in_key_order(
    kafka: Settings, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory("aiokafka")
    producer = AIOKafkaProducer(**producer_options(kafka, "admin"))
    await producer.start()
    try:
        for i in range(5):
            await producer.send_and_wait(topic, key=b"child-1", value=f"event-{i}".encode())
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(topic, **consumer_options(kafka, "admin", None))
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=10_000, max_records=5)
        records = [r for batch in batches.values() for r in batch]
    finally:
        await consumer.stop()

    assert [r.value for r in records] == [f"event-{i}".encode() for i in range(5)]
    assert {r.key for r in records} == {b"child-1"}
    assert len({r.partition for r in records}) == 1


def test_kafka_python_idempotent_producer_and_group_consumer(
    kafka: Settings, topic_factory: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic = topic_factory("kafka-python", partitions=2)
    producer = KafkaProducer(**producer_options(kafka, "admin"))
    sent = [producer.send(topic, key=f"k{i}".encode(), value=bytes([i])) for i in range(10)]
    producer.flush()
    producer.close()
    offsets = [future.get(timeout=10) for future in sent]
    assert all(meta.offset >= 0 for meta in offsets)

    consumer = KafkaConsumer(
        topic,
        **consumer_options(kafka, "admin", unique_name("group"), enable_auto_commit=True),
        consumer_timeout_ms=10_000,
    )
    values = sorted(record.value[0] for _, record in zip(range(10), consumer, strict=False))
    consumer.close()
    assert values == list(range(10))


def test_admin_creates_topic_with_requested_partitions(
    admin: KafkaAdminClient, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory("admin", partitions=4)
    (description,) = admin.describe_topics([topic])
    assert (description["name"], description["error_code"]) == (topic, 0)
    assert sorted(p["partition_index"] for p in description["partitions"]) == [0, 1, 2, 3]


async def test_asyncpg_round_trip(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        # The services' role may not create tables, temporary ones included: a typed round trip.
        row = await conn.fetchrow("SELECT $1::text AS child_ref, $2::int AS n", "ref-1", 3)
        version = await conn.fetchval("SHOW server_version_num")
    finally:
        await conn.close()
    assert (row["child_ref"], row["n"]) == ("ref-1", 3)
    assert int(version) >= 150000
