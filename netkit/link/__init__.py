"""Link elements: Delay, Loss, TraceLink with its queues and AQMs, Chain, Mahimahi-format logs."""
from netkit.link.chain import Chain
from netkit.link.delay import Delay
from netkit.link.element import LinkElement
from netkit.link.log import LinkLog
from netkit.link.loss import BernoulliLoss, GilbertElliottLoss
from netkit.link.packet import CE, ECT0, ECT1, NOT_ECT, Packet
from netkit.link.queues import (
    DropHeadQueue, DropTailQueue, InfiniteQueue, PacketQueue, QueueSpecError, make_queue, register_queue,
)
from netkit.link.tracelink import PacketTooLarge, TraceLink

__all__ = [
    "Chain", "Delay", "LinkElement", "LinkLog", "BernoulliLoss", "GilbertElliottLoss", "Packet", "CE", "ECT0",
    "ECT1", "NOT_ECT", "DropHeadQueue", "DropTailQueue", "InfiniteQueue", "PacketQueue", "QueueSpecError",
    "make_queue", "register_queue", "PacketTooLarge", "TraceLink",
]
