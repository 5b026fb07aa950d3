"""How the SFU control plane reaches a P4 data plane: a `P4RuntimeClient`, or the same P4Runtime messages
applied in process to a simulated software switch.

`LocalP4Runtime` is a `P4RuntimeClient` whose Write and Read requests go straight to the software
target's P4Runtime service (no gRPC transport, no arbitration): the simulator uses it so a simulated
meeting is programmed with exactly the entities a live controller writes. Packet-out goes to a callable
(`SimSwitch.packet_out`).
"""
from __future__ import annotations

from typing import Callable

from p4.v1 import p4runtime_pb2

from netkit.p4.client import P4RuntimeClient, P4RuntimeError, _entity
from netkit.p4.p4info import P4InfoIndex
from netkit.p4.software.device import SoftwareSwitch
from netkit.p4.software.server import P4RuntimeService, _rpc_code
from netkit.p4.software.state import P4RuntimeStateError


class LocalP4Runtime(P4RuntimeClient):
    """P4RuntimeClient-shaped access to an in-process SoftwareSwitch (the simulator's data plane)."""

    def __init__(self, switch: SoftwareSwitch, packet_out: Callable[[bytes, int], None] | None = None):
        # no channel or stream: P4RuntimeClient.__init__ is not called on purpose
        self.switch = switch
        self.service = P4RuntimeService(switch)
        self.index = P4InfoIndex(switch.p4info)
        self.device_id, self.election_id = switch.device_id, (0, 1)
        self._packet_out = packet_out
        self.writes = 0

    def close(self) -> None:
        """Nothing to close."""

    def write(self, updates: list[tuple[str, p4runtime_pb2.Entity]]) -> None:
        """Apply one batch of (INSERT|MODIFY|DELETE, entity); P4RuntimeError on the first refused update."""
        with self.switch.lock:
            for utype, entity in updates:
                u = p4runtime_pb2.Update(type=p4runtime_pb2.Update.Type.Value(utype))
                u.entity.CopyFrom(_entity(entity))
                try:
                    self.service._apply(u)
                except P4RuntimeStateError as exc:
                    raise P4RuntimeError(exc.code, exc.message, [(_rpc_code(exc.code), exc.message, "")]) from None
                self.writes += 1

    def read(self, entity) -> list[p4runtime_pb2.Entity]:
        """Entities matching one (wildcard) entity, as a Read would return them."""
        resp = p4runtime_pb2.ReadResponse()
        with self.switch.lock:
            try:
                self.service._read(_entity(entity), resp)
            except P4RuntimeStateError as exc:
                raise P4RuntimeError(exc.code, exc.message) from None
        return list(resp.entities)

    def packet_out(self, payload: bytes, **metadata: int) -> None:
        """Send `payload` (an Ethernet frame) out of `egress_port`."""
        if self._packet_out is not None:
            self._packet_out(payload, metadata["egress_port"])


def read_register_cells(client: P4RuntimeClient, name: str, indices: list[int]) -> list[int]:
    """Several cells of one register in one Read request (for NACK translation: 64 history cells)."""
    r = client.index.get("register", name)
    if isinstance(client, LocalP4Runtime):
        out = []
        for i in indices:
            out += client.read_register(name, i)
        return out
    req = p4runtime_pb2.ReadRequest(device_id=client.device_id)
    for i in indices:
        ent = req.entities.add().register_entry
        ent.register_id = r.preamble.id
        ent.index.index = i
    try:
        return [int.from_bytes(e.register_entry.data.bitstring, "big")
                for resp in client.stub.Read(req, timeout=client.timeout_s) for e in resp.entities]
    except Exception as exc:  # grpc.RpcError
        raise P4RuntimeError(getattr(exc, "code", lambda: None)(), str(exc)) from None


__all__ = ["LocalP4Runtime", "read_register_cells"]
