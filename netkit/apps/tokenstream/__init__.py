"""tokenstream: Eloquent LLM token streaming against retransmission and duplication (docs/tokenstream.md).

Sans-I/O senders and receivers for four schemes (`eloquent`, `retransmit`,
`duplicate`, `udp`), token sources (synthetic, timing traces, a local Hugging Face
model), the stall/TTFT/delay/overhead metrics, simulator sweeps, live runs over
`netkit.emu`, and a WebRTC data-channel demo.
"""
from netkit.apps.tokenstream.eloquent import EloquentReceiver, EloquentSender
from netkit.apps.tokenstream.feeder import ScheduledSender
from netkit.apps.tokenstream.metrics import token_metrics
from netkit.apps.tokenstream.reliable import StreamTokenReceiver, StreamTokenSender
from netkit.apps.tokenstream.schemes import SCHEMES, make_endpoints
from netkit.apps.tokenstream.simrun import simulate
from netkit.apps.tokenstream.sources import read_timing_trace, synthetic, write_timing_trace
from netkit.apps.tokenstream.tokens import TokenSchedule
from netkit.apps.tokenstream.udp import UdpReceiver, UdpSender

__all__ = [
    "EloquentReceiver", "EloquentSender", "SCHEMES", "ScheduledSender", "StreamTokenReceiver",
    "StreamTokenSender", "TokenSchedule", "UdpReceiver", "UdpSender", "make_endpoints", "read_timing_trace",
    "simulate", "synthetic", "token_metrics", "write_timing_trace",
]
