"""The P4Runtime gRPC service of the software target (p4.v1.P4Runtime from the `p4runtime` package).

Answers as a P4Runtime switch does (P4Runtime spec 1.4): Write batches fail with gRPC UNKNOWN carrying
one p4.v1.Error per update in `grpc-status-details-bin` (what p4runtime-shell unpacks); Read, pipeline and
arbitration errors carry their code directly (INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS,
PERMISSION_DENIED, FAILED_PRECONDITION, UNIMPLEMENTED). A refused request never stops the service.
"""
from __future__ import annotations

import logging
import queue
import threading
from concurrent import futures

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, status_pb2
from p4.config.v1 import p4info_pb2
from p4.v1 import p4runtime_pb2, p4runtime_pb2_grpc

from netkit.p4.p4info import decode, encode
from netkit.p4.software.device import SoftwareSwitch
from netkit.p4.software.state import Entry, P4RuntimeStateError, TableState, invalid

log = logging.getLogger("netkit.p4.server")
API_VERSION = "1.4.1"
Code = grpc.StatusCode


def _rpc_code(code: grpc.StatusCode) -> int:
    return code.value[0]


def _cells(entry, size: int, what: str) -> range:
    """The cells a counter or register entry names: its `index` (OUT_OF_RANGE unless 0 <= index < size), or
    every cell when it has none."""
    if not entry.HasField("index"):
        return range(size)
    i = entry.index.index
    if not 0 <= i < size:
        raise P4RuntimeStateError(Code.OUT_OF_RANGE, f"{what}: index {i} outside 0..{size - 1}")
    return range(i, i + 1)


class _Stream:
    """One controller's StreamChannel: its election id, role and outgoing queue."""

    def __init__(self) -> None:
        self.election_id: tuple[int, int] | None = None
        self.role = ""
        self.out: queue.Queue = queue.Queue()


class P4RuntimeService(p4runtime_pb2_grpc.P4RuntimeServicer):
    """P4Runtime over one SoftwareSwitch."""

    def __init__(self, switch: SoftwareSwitch):
        self.switch = switch
        self.streams: list[_Stream] = []
        self.streams_lock = threading.Lock()
        self.saved_config: p4runtime_pb2.ForwardingPipelineConfig | None = None
        switch.packet_in = self.send_packet_in

    # ------------------------------------------------------------ arbitration
    def _primary(self, role: str = "") -> _Stream | None:
        with self.streams_lock:
            cands = [s for s in self.streams if s.election_id is not None and s.role == role]
        return max(cands, key=lambda s: s.election_id, default=None)

    def _check_primary(self, election_id, role: str, context) -> None:
        primary = self._primary(role)
        eid = (election_id.high, election_id.low)
        if primary is None or primary.election_id != eid:
            context.abort(Code.PERMISSION_DENIED, "not the primary controller (election id "
                          f"{eid[0]},{eid[1]}); only the primary may write")

    def _check_device(self, device_id: int, context) -> None:
        if device_id != self.switch.device_id:
            context.abort(Code.NOT_FOUND, f"no device {device_id} (this switch is device {self.switch.device_id})")

    def _announce(self, role: str) -> None:
        primary = self._primary(role)
        with self.streams_lock:
            streams = [s for s in self.streams if s.election_id is not None and s.role == role]
        for s in streams:
            msg = p4runtime_pb2.StreamMessageResponse()
            a = msg.arbitration
            a.device_id = self.switch.device_id
            if role:
                a.role.name = role
            a.election_id.high, a.election_id.low = primary.election_id if primary else (0, 0)
            if s is primary:
                a.status.code = code_pb2.OK
                a.status.message = "primary"
            else:
                a.status.code = code_pb2.ALREADY_EXISTS
                a.status.message = "backup: a controller with a higher election id is primary"
            s.out.put(msg)

    def StreamChannel(self, request_iterator, context):
        stream = _Stream()
        with self.streams_lock:
            self.streams.append(stream)

        def reader() -> None:
            try:
                for req in request_iterator:
                    self._on_stream_message(stream, req)
            except grpc.RpcError:
                pass
            except _StreamAbort as exc:
                stream.out.put(exc)
            finally:
                stream.out.put(None)

        threading.Thread(target=reader, daemon=True, name="p4rt-stream").start()
        try:
            while True:
                try:
                    msg = stream.out.get(timeout=0.5)
                except queue.Empty:
                    if not context.is_active():   # cancelled, or the server is stopping
                        break
                    continue
                if msg is None:
                    break
                if isinstance(msg, _StreamAbort):
                    context.abort(msg.code, msg.message)
                yield msg
        finally:
            with self.streams_lock:
                self.streams.remove(stream)
            if stream.election_id is not None:
                self._announce(stream.role)

    def _on_stream_message(self, stream: _Stream, req: p4runtime_pb2.StreamMessageRequest) -> None:
        kind = req.WhichOneof("update")
        if kind == "arbitration":
            a = req.arbitration
            if a.device_id != self.switch.device_id:
                raise _StreamAbort(Code.NOT_FOUND, f"no device {a.device_id}")
            eid = (a.election_id.high, a.election_id.low)
            role = a.role.name if a.HasField("role") else ""
            with self.streams_lock:
                clash = any(s is not stream and s.role == role and s.election_id == eid for s in self.streams)
            if clash:
                raise _StreamAbort(Code.INVALID_ARGUMENT, f"election id {eid} is already used by another controller")
            old_role = stream.role
            stream.election_id, stream.role = eid, role
            self._announce(role)
            if old_role != role:
                self._announce(old_role)
        elif kind == "packet":
            if stream.election_id is None or self._primary(stream.role) is not stream:
                stream.out.put(_stream_error(code_pb2.PERMISSION_DENIED, "packet-out from a non-primary controller",
                                             packet=req.packet))
                return
            try:
                data = self._packet_out_bytes(req.packet)
            except ValueError as exc:
                stream.out.put(_stream_error(code_pb2.INVALID_ARGUMENT, str(exc), packet=req.packet))
                return
            self.switch.receive(self.switch.cpu_port, data)
        elif kind == "digest_ack":
            pass
        else:
            stream.out.put(_stream_error(code_pb2.UNIMPLEMENTED, f"stream message {kind} is not supported"))

    def _header(self, name: str):
        info = self.switch.p4info
        for h in info.controller_packet_metadata if info else ():
            if h.preamble.name == name:
                return h
        raise ValueError(f"the pipeline has no {name} controller header")

    def _packet_out_bytes(self, packet: p4runtime_pb2.PacketOut) -> bytes:
        if self.switch.p4info is None:
            raise ValueError("no forwarding pipeline is set")
        header = self._header("packet_out")
        given = {}
        for md in packet.metadata:
            spec = next((m for m in header.metadata if m.id == md.metadata_id), None)
            if spec is None:
                raise ValueError(f"packet_out has no metadata id {md.metadata_id}")
            given[md.metadata_id] = decode(md.value, spec.bitwidth, f"packet_out metadata {spec.name}")
        bits, total = 0, 0
        for m in header.metadata:
            bits = (bits << m.bitwidth) | given.get(m.id, 0)
            total += m.bitwidth
        return bits.to_bytes((total + 7) // 8, "big") + packet.payload

    def send_packet_in(self, data: bytes) -> None:
        """Deliver a packet the pipeline sent to the CPU port to the primary controller as a PacketIn."""
        primary = self._primary("")
        if primary is None or self.switch.p4info is None:
            return
        header = self._header("packet_in")
        total = sum(m.bitwidth for m in header.metadata)
        nbytes = (total + 7) // 8
        bits = int.from_bytes(data[:nbytes], "big")
        msg = p4runtime_pb2.StreamMessageResponse()
        msg.packet.payload = data[nbytes:]
        shift = nbytes * 8
        for m in header.metadata:
            shift -= m.bitwidth
            md = msg.packet.metadata.add()
            md.metadata_id = m.id
            md.value = encode((bits >> shift) & ((1 << m.bitwidth) - 1), m.bitwidth)
        primary.out.put(msg)

    # --------------------------------------------------------------- pipeline
    def SetForwardingPipelineConfig(self, request, context):
        self._check_device(request.device_id, context)
        self._check_primary(request.election_id, request.role, context)
        A = p4runtime_pb2.SetForwardingPipelineConfigRequest
        action = request.action
        if action == A.UNSPECIFIED:
            context.abort(Code.INVALID_ARGUMENT, "SetForwardingPipelineConfig needs an action")
        if action == A.RECONCILE_AND_COMMIT:
            context.abort(Code.UNIMPLEMENTED, "RECONCILE_AND_COMMIT is not supported; use VERIFY_AND_COMMIT")
        if action == A.COMMIT:
            if self.saved_config is None:
                context.abort(Code.FAILED_PRECONDITION, "COMMIT without a saved config (VERIFY_AND_SAVE first)")
            config = self.saved_config
        else:
            config = request.config
            try:
                self.switch.check_config(config.p4info, config.p4_device_config)
            except ValueError as exc:
                context.abort(Code.INVALID_ARGUMENT, str(exc))
        if action == A.VERIFY_AND_SAVE:
            self.saved_config = p4runtime_pb2.ForwardingPipelineConfig()
            self.saved_config.CopyFrom(config)
        elif action in (A.VERIFY_AND_COMMIT, A.COMMIT):
            info = type(config.p4info)()
            info.CopyFrom(config.p4info)
            self.switch.set_pipeline(info, config.p4_device_config, config.cookie.cookie)
            self.saved_config = None
            log.info("pipeline set (program %s)", self.switch.program)
        return p4runtime_pb2.SetForwardingPipelineConfigResponse()

    def GetForwardingPipelineConfig(self, request, context):
        self._check_device(request.device_id, context)
        R = p4runtime_pb2.GetForwardingPipelineConfigRequest
        resp = p4runtime_pb2.GetForwardingPipelineConfigResponse()
        sw = self.switch
        if sw.p4info is None:
            return resp
        resp.config.cookie.cookie = sw.cookie
        if request.response_type in (R.ALL, R.P4INFO_AND_COOKIE):
            resp.config.p4info.CopyFrom(sw.p4info)
        if request.response_type in (R.ALL, R.DEVICE_CONFIG_AND_COOKIE):
            resp.config.p4_device_config = sw.device_config
        return resp

    def Capabilities(self, request, context):
        return p4runtime_pb2.CapabilitiesResponse(p4runtime_api_version=API_VERSION)

    # ------------------------------------------------------------------ write
    def Write(self, request, context):
        self._check_device(request.device_id, context)
        self._check_primary(request.election_id, request.role, context)
        if self.switch.state is None:
            context.abort(Code.FAILED_PRECONDITION, "no forwarding pipeline is set (SetForwardingPipelineConfig first)")
        if request.atomicity != p4runtime_pb2.WriteRequest.CONTINUE_ON_ERROR:
            context.abort(Code.UNIMPLEMENTED, "only CONTINUE_ON_ERROR atomicity is supported")
        errors = []
        with self.switch.lock:
            for update in request.updates:
                try:
                    self._apply(update)
                    errors.append(p4runtime_pb2.Error(canonical_code=code_pb2.OK))
                except P4RuntimeStateError as exc:
                    errors.append(p4runtime_pb2.Error(canonical_code=_rpc_code(exc.code), message=exc.message))
        failed = [e for e in errors if e.canonical_code != code_pb2.OK]
        if failed:
            status = status_pb2.Status(code=code_pb2.UNKNOWN, message=failed[0].message)
            for e in errors:
                packed = any_pb2.Any()
                packed.Pack(e)
                status.details.append(packed)
            context.set_trailing_metadata((("grpc-status-details-bin", status.SerializeToString()),))
            context.abort(Code.UNKNOWN, failed[0].message)
        return p4runtime_pb2.WriteResponse()

    def _apply(self, update: p4runtime_pb2.Update) -> None:
        U = p4runtime_pb2.Update
        if update.type == U.UNSPECIFIED:
            raise invalid("update type is UNSPECIFIED")
        entity = update.entity
        kind = entity.WhichOneof("entity")
        if kind == "table_entry":
            self.switch.state.version += 1
            self._write_table(update.type, entity.table_entry)
        elif kind == "packet_replication_engine_entry":
            self._write_pre(update.type, entity.packet_replication_engine_entry)
        elif kind == "register_entry":
            self._write_register(update.type, entity.register_entry)
        elif kind == "counter_entry":
            self._write_counter(update.type, entity.counter_entry)
        else:
            raise P4RuntimeStateError(Code.UNIMPLEMENTED, f"writing {kind} is not supported by the software target")

    def _table(self, table_id: int) -> TableState:
        table = self.switch.state.tables.get(table_id)
        if table is None:
            raise P4RuntimeStateError(Code.NOT_FOUND, f"no table with id {table_id}")
        return table

    def _action(self, table: TableState, action: p4runtime_pb2.Action, default: bool) -> tuple[int, tuple[int, ...]]:
        spec = self.switch.state.actions.get(action.action_id)
        if spec is None:
            raise P4RuntimeStateError(Code.NOT_FOUND, f"no action with id {action.action_id}")
        if action.action_id not in table.action_ids:
            raise invalid(f"action {spec.name} is not an action of table {table.name}")
        if default and action.action_id in table.table_only:
            raise invalid(f"action {spec.name} cannot be the default action of {table.name} (@tableonly)")
        if not default and action.action_id in table.default_only:
            raise invalid(f"action {spec.name} is only a default action of {table.name} (@defaultonly)")
        given = {}
        for p in action.params:
            pspec = next((q for q in spec.params if q[0] == p.param_id), None)
            if pspec is None:
                raise invalid(f"action {spec.name} has no parameter id {p.param_id}")
            if p.param_id in given:
                raise invalid(f"action {spec.name}: parameter {pspec[1]} given twice")
            try:
                given[p.param_id] = decode(p.value, pspec[2], f"action {spec.name} parameter {pspec[1]}")
            except ValueError as exc:
                raise invalid(str(exc)) from None
        missing = [q[1] for q in spec.params if q[0] not in given]
        if missing:
            raise invalid(f"action {spec.name}: missing parameter(s) {', '.join(missing)}")
        return action.action_id, tuple(given[q[0]] for q in spec.params)

    def _match(self, table: TableState, te: p4runtime_pb2.TableEntry) -> tuple:
        by_id = {}
        known = {f.id for f in table.fields}
        for fm in te.match:
            if fm.field_id not in known:
                raise invalid(f"table {table.name} has no match field id {fm.field_id}")
            if fm.field_id in by_id:
                raise invalid(f"table {table.name}: match field id {fm.field_id} given twice")
            by_id[fm.field_id] = fm
        match = table.normalise(by_id)
        if table.needs_priority():
            if te.priority <= 0:
                raise invalid(f"table {table.name} has ternary/range/optional fields: priority must be > 0")
        elif te.priority != 0:
            raise invalid(f"table {table.name} has only exact/lpm fields: priority must be 0")
        return match

    def _write_table(self, utype: int, te: p4runtime_pb2.TableEntry) -> None:
        U = p4runtime_pb2.Update
        table = self._table(te.table_id)
        if te.is_default_action:
            if utype != U.MODIFY:
                raise invalid(f"table {table.name}: the default entry can only be modified")
            if te.match:
                raise invalid(f"table {table.name}: a default entry has no match fields")
            if table.const_default:
                raise P4RuntimeStateError(Code.PERMISSION_DENIED, f"table {table.name}: the default action is const")
            if not te.HasField("action"):
                table.default_action = table.initial_default
                return
            table.default_action = self._direct_action(table, te, default=True)
            return
        match = self._match(table, te)
        if utype == U.DELETE:
            table.delete(match, te.priority)
            return
        action_id, params = self._direct_action(table, te, default=False)
        entry = Entry(match=match, priority=te.priority, action_id=action_id, params=params, metadata=te.metadata)
        (table.insert if utype == U.INSERT else table.modify)(entry)

    def _direct_action(self, table: TableState, te: p4runtime_pb2.TableEntry, default: bool):
        if not te.HasField("action"):
            raise invalid(f"table {table.name}: the entry has no action")
        which = te.action.WhichOneof("type")
        if which != "action":
            raise P4RuntimeStateError(Code.UNIMPLEMENTED, f"table {table.name}: {which} (action profiles) not supported")
        return self._action(table, te.action.action, default)

    def _write_pre(self, utype: int, pre: p4runtime_pb2.PacketReplicationEngineEntry) -> None:
        U = p4runtime_pb2.Update
        which = pre.WhichOneof("type")
        if which == "multicast_group_entry":
            gid, store, raw = pre.multicast_group_entry.multicast_group_id, self.switch.state.multicast_groups, \
                pre.multicast_group_entry.replicas
            what = "multicast group"
        elif which == "clone_session_entry":
            gid, store, raw = pre.clone_session_entry.session_id, self.switch.state.clone_sessions, \
                pre.clone_session_entry.replicas
            what = "clone session"
        else:
            raise invalid("packet replication engine entry without a group or session")
        if gid == 0 or gid >> 16:
            raise invalid(f"{what} id {gid} outside 1..65535")
        if utype == U.DELETE:
            if store.pop(gid, None) is None:
                raise P4RuntimeStateError(Code.NOT_FOUND, f"no {what} {gid}")
            return
        replicas = []
        for r in raw:
            if r.WhichOneof("port_kind") == "port":
                try:
                    port = decode(r.port, 9, f"{what} {gid} replica port")
                except ValueError as exc:
                    raise invalid(str(exc)) from None
            else:
                port = r.egress_port
            if port >> 9:
                raise invalid(f"{what} {gid}: port {port} does not fit in 9 bits")
            if r.instance >> 16:
                raise invalid(f"{what} {gid}: instance {r.instance} does not fit in 16 bits (egress_rid)")
            if (port, r.instance) in replicas:
                raise invalid(f"{what} {gid}: replica (port {port}, instance {r.instance}) given twice")
            replicas.append((port, r.instance))
        if utype == U.INSERT:
            if gid in store:
                raise P4RuntimeStateError(Code.ALREADY_EXISTS, f"{what} {gid} already exists")
        elif gid not in store:
            raise P4RuntimeStateError(Code.NOT_FOUND, f"no {what} {gid} to modify")
        store[gid] = replicas

    def _register(self, register_id: int):
        reg = self.switch.state.registers.get(register_id)
        if reg is None:
            raise P4RuntimeStateError(Code.NOT_FOUND, f"no register with id {register_id}")
        return reg

    def _write_register(self, utype: int, re: p4runtime_pb2.RegisterEntry) -> None:
        if utype != p4runtime_pb2.Update.MODIFY:
            raise invalid("register cells can only be modified")
        reg = self._register(re.register_id)
        if re.data.WhichOneof("data") != "bitstring":
            raise invalid(f"register {reg.name}: data must be a bitstring")
        try:
            value = decode(re.data.bitstring, reg.bitwidth, f"register {reg.name} value")
        except ValueError as exc:
            raise invalid(str(exc)) from None
        for i in _cells(re, reg.size, f"register {reg.name}"):
            reg.cells[i] = value

    def _write_counter(self, utype: int, ce: p4runtime_pb2.CounterEntry) -> None:
        if utype != p4runtime_pb2.Update.MODIFY:
            raise invalid("counter cells can only be modified")
        c = self.switch.state.counters.get(ce.counter_id)
        if c is None:
            raise P4RuntimeStateError(Code.NOT_FOUND, f"no counter with id {ce.counter_id}")
        for i in _cells(ce, c.size, f"counter {c.name}"):
            c.packets[i], c.bytes[i] = ce.data.packet_count, ce.data.byte_count

    # ------------------------------------------------------------------- read
    def Read(self, request, context):
        self._check_device(request.device_id, context)
        if self.switch.state is None:
            context.abort(Code.FAILED_PRECONDITION, "no forwarding pipeline is set")
        resp = p4runtime_pb2.ReadResponse()
        try:
            with self.switch.lock:
                for entity in request.entities:
                    self._read(entity, resp)
        except P4RuntimeStateError as exc:
            context.abort(exc.code, exc.message)
        yield resp

    def _read(self, entity: p4runtime_pb2.Entity, resp: p4runtime_pb2.ReadResponse) -> None:
        kind = entity.WhichOneof("entity")
        state = self.switch.state
        if kind == "table_entry":
            te = entity.table_entry
            tables = [self._table(te.table_id)] if te.table_id else list(state.tables.values())
            for table in tables:
                if te.is_default_action:
                    out = resp.entities.add().table_entry
                    out.table_id = table.id
                    out.is_default_action = True
                    self._fill_action(out, *table.default_action)
                    continue
                wanted = None
                if te.match:
                    wanted = (self._match(table, te), te.priority)
                for key, e in table.entries.items():
                    if wanted is not None and key != wanted:
                        continue
                    self._fill_entry(resp.entities.add().table_entry, table, e)
        elif kind == "packet_replication_engine_entry":
            pre = entity.packet_replication_engine_entry
            # a clone session and a multicast group read alike: an id (0: all) and its replicas
            pre_kind = pre.WhichOneof("type") or "multicast_group_entry"
            clone = pre_kind == "clone_session_entry"
            groups, id_field = ((state.clone_sessions, "session_id") if clone
                                else (state.multicast_groups, "multicast_group_id"))
            wanted = getattr(getattr(pre, pre_kind), id_field)
            for gid, reps in sorted(groups.items()):
                if wanted and gid != wanted:
                    continue
                out = getattr(resp.entities.add().packet_replication_engine_entry, pre_kind)
                setattr(out, id_field, gid)
                for port, inst in reps:
                    out.replicas.add(egress_port=port, instance=inst)
            if clone:
                return
        elif kind == "counter_entry":
            ce = entity.counter_entry
            if ce.counter_id and ce.counter_id not in state.counters:
                raise P4RuntimeStateError(Code.NOT_FOUND, f"no counter with id {ce.counter_id}")
            counters = [state.counters[ce.counter_id]] if ce.counter_id else list(state.counters.values())
            for c in counters:
                for i in _cells(ce, c.size, f"counter {c.name}"):
                    out = resp.entities.add().counter_entry
                    out.counter_id, out.index.index = c.id, i
                    if c.unit != p4info_pb2.CounterSpec.BYTES:
                        out.data.packet_count = c.packets[i]
                    if c.unit != p4info_pb2.CounterSpec.PACKETS:
                        out.data.byte_count = c.bytes[i]
        elif kind == "register_entry":
            re = entity.register_entry
            regs = [self._register(re.register_id)] if re.register_id else list(state.registers.values())
            for reg in regs:
                for i in _cells(re, reg.size, f"register {reg.name}"):
                    out = resp.entities.add().register_entry
                    out.register_id, out.index.index = reg.id, i
                    out.data.bitstring = encode(reg.cells[i], reg.bitwidth)
        else:
            raise P4RuntimeStateError(Code.UNIMPLEMENTED, f"reading {kind} is not supported by the software target")

    def _fill_action(self, out: p4runtime_pb2.TableEntry, action_id: int, params: tuple[int, ...]) -> None:
        spec = self.switch.state.actions[action_id]
        out.action.action.action_id = action_id
        for (pid, _, width), v in zip(spec.params, params):
            out.action.action.params.add(param_id=pid, value=encode(v, width))

    def _fill_entry(self, out: p4runtime_pb2.TableEntry, table: TableState, e: Entry) -> None:
        from netkit.p4.software.state import EXACT, LPM, OPTIONAL, RANGE, TERNARY
        out.table_id = table.id
        out.priority = e.priority
        out.metadata = e.metadata
        for f, m in zip(table.fields, e.match):
            if f.match_type == EXACT:
                out.match.add(field_id=f.id).exact.value = encode(m[0], f.bitwidth)
            elif f.match_type == TERNARY and m[1]:
                fm = out.match.add(field_id=f.id)
                fm.ternary.value, fm.ternary.mask = encode(m[0], f.bitwidth), encode(m[1], f.bitwidth)
            elif f.match_type == LPM and m[1]:
                fm = out.match.add(field_id=f.id)
                fm.lpm.value, fm.lpm.prefix_len = encode(m[0], f.bitwidth), m[1]
            elif f.match_type == RANGE and (m[0], m[1]) != (0, (1 << f.bitwidth) - 1):
                fm = out.match.add(field_id=f.id)
                fm.range.low, fm.range.high = encode(m[0], f.bitwidth), encode(m[1], f.bitwidth)
            elif f.match_type == OPTIONAL and m[1]:
                out.match.add(field_id=f.id).optional.value = encode(m[0], f.bitwidth)
        self._fill_action(out, e.action_id, e.params)


class _StreamAbort(Exception):
    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _stream_error(code: int, message: str, packet=None) -> p4runtime_pb2.StreamMessageResponse:
    msg = p4runtime_pb2.StreamMessageResponse()
    msg.error.canonical_code = code
    msg.error.message = message
    if packet is not None:
        msg.error.packet_out.packet_out.CopyFrom(packet)
    return msg


def serve(switch: SoftwareSwitch, address: str, workers: int = 16) -> tuple[grpc.Server, int]:
    """Start the P4Runtime service for `switch` on `address` (HOST:PORT; port 0 picks one); return (server, port)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="p4rt"))
    p4runtime_pb2_grpc.add_P4RuntimeServicer_to_server(P4RuntimeService(switch), server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen for P4Runtime on {address}")
    server.start()
    return server, port
