"""Subscriptions that no executor spins: the consumer takes messages itself, when it needs them.

For high-rate topics read by a loop at a lower rate (LowState at 500 Hz, read by a 50 Hz command
loop or once per policy chunk): an executor would wake up for every message and spend ~0.5 ms of
GIL-holding Python on each, competing with the threads that matter. Here the middleware queues the
messages (KEEP_LAST depth of the QoS) and the consumer takes the newest, aged by its receive time.
"""
from __future__ import annotations

import time

import rclpy
from rclpy.node import Node


def reader_node(owner: Node, suffix: str = "reader") -> Node:
    """A private helper node in `owner`'s context, namespace and name, never added to an executor.

    It takes its own name even when the process is remapped with `__node:=` (global arguments off),
    which would otherwise give it the owner's name.
    """
    return rclpy.create_node(f"{owner.get_name()}_{suffix}", context=owner.context, namespace=owner.get_namespace(),
                             start_parameter_services=False, use_global_arguments=False, enable_rosout=False)


def received_ns(info) -> int:
    """When the middleware received a taken message: ns of the system clock (0 if it does not say)."""
    return int(info.get("received_timestamp", 0)) if isinstance(info, dict) else 0


def message_age(info) -> float:
    """Seconds since the middleware received a taken message (0 when it gives no receive stamp)."""
    received = received_ns(info)
    age = (time.time_ns() - received) * 1e-9 if received else 0.0
    return min(max(age, 0.0), 1.0)


def take_queued(sub, raw: bool = False) -> list:
    """[(message, info)] of every queued message, oldest first (`raw=True`: serialized bytes)."""
    out = []
    with sub.handle:
        while (got := sub.handle.take_message(sub.msg_type, raw)) is not None:
            out.append(got)
    return out


def take_newest(sub, raw: bool = True):
    """(message, age in s) of the newest queued message, dropping older ones; None if none is queued.

    `raw=True` gives the serialized bytes (no rclpy message objects are built for the dropped ones).
    """
    queued = take_queued(sub, raw)
    if not queued:
        return None
    msg, info = queued[-1]
    return msg, message_age(info)


def take_all(sub):
    """[(message, age in s)] of every queued message, oldest first."""
    return [(msg, message_age(info)) for msg, info in take_queued(sub)]
