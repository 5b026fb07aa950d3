"""netkit's P4Runtime controller client: names in, p4.v1 protobufs on the wire, to any P4Runtime switch.

It is what `netkit p4 load`, the tests and the SFU control plane use against bmv2, Tofino or the
software target alike. p4runtime-shell does the same for interactive users; this client is a small
library without the shell's global state.
"""
from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from pathlib import Path

import grpc
from google.rpc import code_pb2, status_pb2
from p4.config.v1 import p4info_pb2
from p4.v1 import p4runtime_pb2, p4runtime_pb2_grpc

from netkit.p4.p4info import P4InfoIndex, decode, encode, load_p4info


class P4RuntimeError(Exception):
    """A refused P4Runtime call: the gRPC code and, for Write, (update index, code name, message) per failure."""

    def __init__(self, code: grpc.StatusCode, message: str, errors: list[tuple[int, str, str]] | None = None):
        self.code, self.message, self.errors = code, message, errors or []
        detail = "; ".join(f"update {i}: {c} {m}" for i, c, m in self.errors)
        super().__init__(f"P4Runtime {code.name}: {message}" + (f" ({detail})" if detail else ""))

    @property
    def codes(self) -> list[str]:
        """Per-update error code names for a failed Write, else [the call's code]."""
        return [c for _, c, _ in self.errors] or [self.code.name]


def _from_rpc(exc: grpc.RpcError) -> P4RuntimeError:
    errors = []
    for key, value in exc.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status()
            status.ParseFromString(value)
            for i, anyerr in enumerate(status.details):
                err = p4runtime_pb2.Error()
                if anyerr.Unpack(err) and err.canonical_code != code_pb2.OK:
                    errors.append((i, code_pb2.Code.Name(err.canonical_code), err.message))
    return P4RuntimeError(exc.code(), exc.details() or "", errors)


@dataclass
class PacketIn:
    """A packet the switch sent to the controller, with its packet_in metadata by name."""

    payload: bytes
    metadata: dict[str, int]


class P4RuntimeClient:
    """One controller session: stream with arbitration, pipeline, writes and reads by P4Info names."""

    def __init__(self, address: str, device_id: int = 1, election_id: tuple[int, int] = (0, 1),
                 p4info: p4info_pb2.P4Info | str | Path | None = None, timeout_s: float = 10.0):
        self.address, self.device_id, self.election_id, self.timeout_s = address, device_id, election_id, timeout_s
        self.channel = grpc.insecure_channel(address)
        try:
            grpc.channel_ready_future(self.channel).result(timeout=timeout_s)
        except grpc.FutureTimeoutError:
            self.channel.close()
            raise OSError(f"no P4Runtime switch answers at {address}") from None
        self.stub = p4runtime_pb2_grpc.P4RuntimeStub(self.channel)
        self.index: P4InfoIndex | None = None
        if p4info is not None:
            self.index = P4InfoIndex(p4info if isinstance(p4info, p4info_pb2.P4Info) else load_p4info(p4info))
        self._out: queue.Queue = queue.Queue()
        self.packets: queue.Queue = queue.Queue()
        self.stream_errors: queue.Queue = queue.Queue()
        self._arbitration: queue.Queue = queue.Queue()
        self.is_primary = False
        self._stream = self.stub.StreamChannel(iter(self._out.get, None))
        self._reader = threading.Thread(target=self._read_stream, daemon=True, name="p4rt-client")
        self._reader.start()
        self._arbitrate()

    # ---------------------------------------------------------------- session
    def _read_stream(self) -> None:
        try:
            for msg in self._stream:
                kind = msg.WhichOneof("update")
                if kind == "arbitration":
                    self.is_primary = msg.arbitration.status.code == code_pb2.OK
                    self._arbitration.put(msg.arbitration)
                elif kind == "packet":
                    self.packets.put(msg.packet)
                elif kind == "error":
                    self.stream_errors.put(msg.error)
        except grpc.RpcError as exc:
            self._arbitration.put(exc)

    def _arbitrate(self) -> None:
        req = p4runtime_pb2.StreamMessageRequest()
        req.arbitration.device_id = self.device_id
        req.arbitration.election_id.high, req.arbitration.election_id.low = self.election_id
        self._out.put(req)
        try:
            reply = self._arbitration.get(timeout=self.timeout_s)
        except queue.Empty:
            raise OSError(f"P4Runtime switch at {self.address} did not answer arbitration") from None
        if isinstance(reply, grpc.RpcError):
            raise _from_rpc(reply)

    def close(self) -> None:
        """End the stream and the channel."""
        self._out.put(None)
        self.channel.close()

    def __enter__(self) -> "P4RuntimeClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _eid(self, msg) -> None:
        msg.device_id = self.device_id
        msg.election_id.high, msg.election_id.low = self.election_id

    # --------------------------------------------------------------- pipeline
    def set_pipeline(self, p4info: p4info_pb2.P4Info | str | Path, device_config: bytes | str | Path = b"") -> None:
        """SetForwardingPipelineConfig(VERIFY_AND_COMMIT) with this P4Info and device config (bytes or a file)."""
        info = p4info if isinstance(p4info, p4info_pb2.P4Info) else load_p4info(p4info)
        if isinstance(device_config, (str, Path)):
            device_config = Path(device_config).read_bytes()
        req = p4runtime_pb2.SetForwardingPipelineConfigRequest()
        self._eid(req)
        req.action = p4runtime_pb2.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT
        req.config.p4info.CopyFrom(info)
        req.config.p4_device_config = device_config
        self._call(self.stub.SetForwardingPipelineConfig, req)
        self.index = P4InfoIndex(info)

    def get_p4info(self) -> p4info_pb2.P4Info:
        """The switch's P4Info (and use it for names from now on)."""
        req = p4runtime_pb2.GetForwardingPipelineConfigRequest(
            device_id=self.device_id,
            response_type=p4runtime_pb2.GetForwardingPipelineConfigRequest.P4INFO_AND_COOKIE)
        info = self._call(self.stub.GetForwardingPipelineConfig, req).config.p4info
        self.index = P4InfoIndex(info)
        return info

    def _call(self, method, req):
        try:
            return method(req, timeout=self.timeout_s)
        except grpc.RpcError as exc:
            raise _from_rpc(exc) from None

    # ------------------------------------------------------------ table entries
    def table_entry(self, table: str, match: dict[str, object] | None = None, action: str | None = None,
                    params: dict[str, int] | None = None, priority: int = 0,
                    default: bool = False) -> p4runtime_pb2.TableEntry:
        """A TableEntry by names. Match values: int (exact), (value, mask) (ternary), (value, prefix_len) for lpm."""
        t = self.index.get("table", table)
        te = p4runtime_pb2.TableEntry(table_id=t.preamble.id, priority=priority, is_default_action=default)
        fields = {m.name: m for m in t.match_fields}
        for name, value in (match or {}).items():
            if name not in fields:
                raise KeyError(f"table {table} has no match field {name!r} (has {', '.join(fields)})")
            m = fields[name]
            fm = te.match.add(field_id=m.id)
            if m.match_type == p4info_pb2.MatchField.EXACT:
                fm.exact.value = encode(int(value), m.bitwidth)
            elif m.match_type == p4info_pb2.MatchField.TERNARY:
                v, mask = value
                fm.ternary.value, fm.ternary.mask = encode(v, m.bitwidth), encode(mask, m.bitwidth)
            elif m.match_type == p4info_pb2.MatchField.LPM:
                v, plen = value
                fm.lpm.value, fm.lpm.prefix_len = encode(v, m.bitwidth), plen
            elif m.match_type == p4info_pb2.MatchField.OPTIONAL:
                fm.optional.value = encode(int(value), m.bitwidth)
            else:
                lo, hi = value
                fm.range.low, fm.range.high = encode(lo, m.bitwidth), encode(hi, m.bitwidth)
        if action is not None:
            a = self.index.get("action", action)
            te.action.action.action_id = a.preamble.id
            pspecs = {p.name: p for p in a.params}
            given = params or {}
            unknown = set(given) - set(pspecs)
            if unknown:
                raise KeyError(f"action {action} has no parameter(s) {', '.join(sorted(unknown))}")
            for p in a.params:
                if p.name not in given:
                    raise KeyError(f"action {action} needs parameter {p.name}")
                te.action.action.params.add(param_id=p.id, value=encode(int(given[p.name]), p.bitwidth))
        return te

    def write(self, updates: list[tuple[str, p4runtime_pb2.Entity]]) -> None:
        """One Write batch of (INSERT|MODIFY|DELETE, entity)."""
        req = p4runtime_pb2.WriteRequest()
        self._eid(req)
        for utype, entity in updates:
            u = req.updates.add(type=p4runtime_pb2.Update.Type.Value(utype))
            u.entity.CopyFrom(entity)
        self._call(self.stub.Write, req)

    def insert(self, *entries) -> None:
        """INSERT table entries, multicast groups or other entities (one batch)."""
        self.write([("INSERT", _entity(e)) for e in entries])

    def modify(self, *entries) -> None:
        """MODIFY entities (one batch)."""
        self.write([("MODIFY", _entity(e)) for e in entries])

    def delete(self, *entries) -> None:
        """DELETE entities (one batch)."""
        self.write([("DELETE", _entity(e)) for e in entries])

    def read(self, entity) -> list[p4runtime_pb2.Entity]:
        """All entities matching one (wildcard) entity."""
        req = p4runtime_pb2.ReadRequest(device_id=self.device_id)
        req.entities.add().CopyFrom(_entity(entity))
        try:
            return [e for resp in self.stub.Read(req, timeout=self.timeout_s) for e in resp.entities]
        except grpc.RpcError as exc:
            raise _from_rpc(exc) from None

    def read_table(self, table: str) -> list[dict]:
        """Entries of `table` as dicts: match {field: value or (value, mask)}, action, params, priority."""
        t = self.index.get("table", table)
        fields = {m.id: m for m in t.match_fields}
        rows = []
        for e in self.read(p4runtime_pb2.TableEntry(table_id=t.preamble.id)):
            te = e.table_entry
            match = {}
            for fm in te.match:
                m = fields[fm.field_id]
                kind = fm.WhichOneof("field_match_type")
                if kind == "exact":
                    match[m.name] = decode(fm.exact.value, m.bitwidth, m.name)
                elif kind == "ternary":
                    match[m.name] = (decode(fm.ternary.value, m.bitwidth, m.name),
                                     decode(fm.ternary.mask, m.bitwidth, m.name))
            a = self.index.by_id[te.action.action.action_id]
            pnames = {p.id: p for p in a.params}
            params = {pnames[p.param_id].name: decode(p.value, pnames[p.param_id].bitwidth, p.param_id)
                      for p in te.action.action.params}
            rows.append({"match": match, "action": a.preamble.name, "params": params, "priority": te.priority})
        return rows

    # ----------------------------------------------------- multicast, registers
    def multicast_group(self, group_id: int, replicas: list[tuple[int, int]]) -> p4runtime_pb2.Entity:
        """A multicast group entity with (egress port, instance = egress_rid) replicas."""
        ent = p4runtime_pb2.Entity()
        mg = ent.packet_replication_engine_entry.multicast_group_entry
        mg.multicast_group_id = group_id
        for port, instance in replicas:
            mg.replicas.add(egress_port=port, instance=instance)
        return ent

    def read_multicast_groups(self) -> dict[int, list[tuple[int, int]]]:
        """All multicast groups: id -> [(port, instance)]."""
        ent = self.multicast_group(0, [])
        return {e.packet_replication_engine_entry.multicast_group_entry.multicast_group_id:
                [(r.egress_port, r.instance) for r in e.packet_replication_engine_entry.multicast_group_entry.replicas]
                for e in self.read(ent)}

    def read_register(self, name: str, index: int | None = None) -> list[int]:
        """Cells of register `name` (one cell when `index` is given)."""
        r = self.index.get("register", name)
        ent = p4runtime_pb2.RegisterEntry(register_id=r.preamble.id)
        if index is not None:
            ent.index.index = index
        return [int.from_bytes(e.register_entry.data.bitstring, "big") for e in self.read(ent)]

    def write_register(self, name: str, index: int, value: int) -> None:
        """Set one register cell."""
        r = self.index.get("register", name)
        ent = p4runtime_pb2.RegisterEntry(register_id=r.preamble.id)
        ent.index.index = index
        ent.data.bitstring = encode(value, r.type_spec.bitstring.bit.bitwidth)
        self.write([("MODIFY", _entity(ent))])

    def read_counter(self, name: str, index: int) -> tuple[int, int]:
        """(packets, bytes) of one counter cell."""
        c = self.index.get("counter", name)
        ent = p4runtime_pb2.CounterEntry(counter_id=c.preamble.id)
        ent.index.index = index
        (e,) = self.read(ent)
        return e.counter_entry.data.packet_count, e.counter_entry.data.byte_count

    # ---------------------------------------------------------------- packets
    def packet_out(self, payload: bytes, **metadata: int) -> None:
        """Send a PacketOut with packet_out metadata by name (e.g. egress_port=2)."""
        h = self.index.get("controller_header", "packet_out")
        msg = p4runtime_pb2.StreamMessageRequest()
        msg.packet.payload = payload
        specs = {m.name: m for m in h.metadata}
        for name, value in metadata.items():
            m = specs[name]
            msg.packet.metadata.add(metadata_id=m.id, value=encode(value, m.bitwidth))
        self._out.put(msg)

    def packet_in(self, timeout_s: float = 2.0) -> PacketIn | None:
        """The next PacketIn, or None after `timeout_s`."""
        try:
            pkt = self.packets.get(timeout=timeout_s)
        except queue.Empty:
            return None
        h = self.index.get("controller_header", "packet_in")
        names = {m.id: m for m in h.metadata}
        return PacketIn(pkt.payload, {names[m.metadata_id].name: int.from_bytes(m.value, "big") for m in pkt.metadata})


def _entity(e) -> p4runtime_pb2.Entity:
    if isinstance(e, p4runtime_pb2.Entity):
        return e
    ent = p4runtime_pb2.Entity()
    field = {p4runtime_pb2.TableEntry: "table_entry", p4runtime_pb2.RegisterEntry: "register_entry",
             p4runtime_pb2.CounterEntry: "counter_entry"}[type(e)]
    getattr(ent, field).CopyFrom(e)
    return ent
