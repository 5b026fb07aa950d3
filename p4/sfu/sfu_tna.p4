/* The SFU data plane for Tofino (TNA): the same tables, actions and registers
 * as sfu_v1model.p4, written to Tofino's constraints.
 *
 * Differences from the v1model program, forced by the architecture:
 *   - CSRC lists and RFC 8285 extension blocks are walked as stacks of 32-bit
 *     words with the parser counter (Tofino has no varbit); blocks longer than
 *     EXT_WORDS_MAX words are not parsed further (no temporal layer: layer 0);
 *   - a register is touched once per packet, so sequence state and history are
 *     read-modify-written by RegisterActions, and skipped (upstream-lost)
 *     sequence numbers are not remembered: a late packet that never passed gets
 *     seq - current offset;
 *   - the controller's ports are Tofino's CPU port; the multicast group and
 *     replication id are ig_tm_md.mcast_grp_a and rid.
 * Compile: bf-p4c --arch tna --p4runtime-files build/sfu_tna.p4info.txtpb -o build/tofino sfu_tna.p4
 */
#include <core.p4>
#include <tna.p4>

#define EXT_WORDS_MAX 15
header word_h {
    bit<32> w;
}
#define ARCH_RTP_EXT_HEADERS word_h[EXT_WORDS_MAX] rtp_csrc; word_h[EXT_WORDS_MAX] rtp_ext_data;
#include "include/headers.p4"
#include "include/checksum.p4"

const PortId_t CPU_PORT = 64;

struct egress_meta_t {
    bit<16> stream_id;
    bit<16> sender_rid;
    bit<8>  tid;
    bit<8>  max_tid;
    bit<1>  from_cpu;
    bit<8>  cpu_reason;
    bit<16> slot;
    bit<16> dst_rid;
}

/* ingress metadata travels to egress in this bridged header */
header bridge_h {
    bit<16> stream_id;
    bit<16> sender_rid;
    bit<16> dst_rid;
    bit<8>  tid;
    bit<8>  cpu_reason;
    bit<7>  _pad;
    bit<1>  from_cpu;
}

struct ig_headers_t {
    bridge_h bridge;
    headers_t h;
}

parser SfuIngressParser(packet_in pkt, out ig_headers_t ighdr, out metadata_t meta,
                        out ingress_intrinsic_metadata_t ig_intr_md) {
    ParserCounter() pctr;
    state start {
        pkt.extract(ig_intr_md);
        pkt.advance(PORT_METADATA_SIZE);
        meta = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        transition select(ig_intr_md.ingress_port) {
            CPU_PORT: parse_packet_out;
            default: parse_ethernet;
        }
    }
    state parse_packet_out {
        pkt.extract(ighdr.h.packet_out);
        transition accept;
    }
#define hdr ighdr.h
#include "include/parser_states.p4"
    state parse_rtp {
        pkt.extract(hdr.rtp);
        pctr.set((bit<8>)hdr.rtp.csrc_count);
        transition select(hdr.rtp.csrc_count) {
            0: parse_rtp_ext_bit;
            default: parse_rtp_csrc;
        }
    }
    state parse_rtp_csrc {
        pkt.extract(hdr.rtp_csrc.next);
        pctr.decrement(1);
        transition select(pctr.is_zero()) {
            true: parse_rtp_ext_bit;
            default: parse_rtp_csrc;
        }
    }
    state parse_rtp_ext_bit {
        transition select(hdr.rtp.extension) {
            1: parse_rtp_ext;
            default: parse_rtp_payload;
        }
    }
    state parse_rtp_ext {
        pkt.extract(hdr.rtp_ext);
        meta.ext_word = pkt.lookahead<bit<32>>();
        pctr.set((bit<8>)hdr.rtp_ext.length);
        transition select(hdr.rtp_ext.profile, meta.ext_word[31:28], meta.ext_word[31:24]) {
            (RTP_EXT_ONE_BYTE, AV1_DD_EXT_ID_1B, _): dd_one_byte;
            (RTP_EXT_TWO_BYTE &&& 16w0xFFF0, _, AV1_DD_EXT_ID): dd_two_byte;
            default: skip_rtp_ext;
        }
    }
    state dd_one_byte {
        meta.dd_valid = 1;
        meta.dd_template_id = (bit<8>)meta.ext_word[21:16];
        transition skip_rtp_ext;
    }
    state dd_two_byte {
        meta.dd_valid = 1;
        meta.dd_template_id = (bit<8>)meta.ext_word[13:8];
        transition skip_rtp_ext;
    }
    state skip_rtp_ext {
        transition select(pctr.is_zero()) {
            true: parse_rtp_payload;
            default: ext_word;
        }
    }
    state ext_word {
        pkt.extract(hdr.rtp_ext_data.next);
        pctr.decrement(1);
        transition skip_rtp_ext;
    }
    state parse_rtp_payload {
        transition select(hdr.rtp.payload_type) {
            VP8_PAYLOAD_TYPE: parse_vp8;
            default: accept;
        }
    }
    state parse_vp8 {
        pkt.extract(hdr.vp8);
        transition select(hdr.vp8.x) {
            1: parse_vp8_x;
            default: accept;
        }
    }
    state parse_vp8_x {
        pkt.extract(hdr.vp8_x);
        transition select(hdr.vp8_x.i, hdr.vp8_x.l, hdr.vp8_x.t, hdr.vp8_x.k) {
            (0, 0, 0, 0): accept;
            (1, _, _, _): parse_vp8_picid;
            (0, 1, _, _): extract_vp8_tl0;
            default: extract_vp8_tk;
        }
    }
    state parse_vp8_picid {
        pkt.extract(hdr.vp8_picid);
        transition select(hdr.vp8_picid.m, hdr.vp8_x.l, hdr.vp8_x.t, hdr.vp8_x.k) {
            (1, _, _, _): parse_vp8_picid_ext;
            (0, 1, _, _): extract_vp8_tl0;
            (0, 0, 0, 0): accept;
            default: extract_vp8_tk;
        }
    }
    state parse_vp8_picid_ext {
        pkt.extract(hdr.vp8_picid_ext);
        transition select(hdr.vp8_x.l, hdr.vp8_x.t, hdr.vp8_x.k) {
            (1, _, _): extract_vp8_tl0;
            (0, 0, 0): accept;
            default: extract_vp8_tk;
        }
    }
    state extract_vp8_tl0 {
        pkt.extract(hdr.vp8_tl0);
        transition select(hdr.vp8_x.t, hdr.vp8_x.k) {
            (0, 0): accept;
            default: extract_vp8_tk;
        }
    }
    state extract_vp8_tk {
        pkt.extract(hdr.vp8_tk);
        transition accept;
    }
#undef hdr
}

control SfuIngress(inout ig_headers_t ighdr, inout metadata_t meta,
                   in ingress_intrinsic_metadata_t ig_intr_md,
                   in ingress_intrinsic_metadata_from_parser_t ig_prsr_md,
                   inout ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md,
                   inout ingress_intrinsic_metadata_for_tm_t ig_tm_md) {
    Counter<bit<64>, bit<9>>(512, CounterType_t.PACKETS_AND_BYTES) port_rx;
    Counter<bit<64>, bit<16>>(1024, CounterType_t.PACKETS_AND_BYTES) stream_rx;
    Counter<bit<64>, bit<8>>(16, CounterType_t.PACKETS_AND_BYTES) cpu_tx;

    action to_cpu(bit<8> reason) {
        ig_tm_md.ucast_egress_port = CPU_PORT;
        ig_tm_md.mcast_grp_a = 0;
        ig_dprsr_md.drop_ctl = 0;
        meta.cpu_reason = reason;
    }
    action drop() { ig_dprsr_md.drop_ctl = 1; }
    action set_stream(bit<16> stream_id, bit<16> mcast_grp, bit<16> sender_rid) {
        meta.stream_id = stream_id;
        ig_tm_md.mcast_grp_a = mcast_grp;
        ig_tm_md.rid = 0;
        ig_dprsr_md.drop_ctl = 0;
        meta.sender_rid = sender_rid;
    }
    action stream_to_cpu() { to_cpu(REASON_UNKNOWN_STREAM); }
    table stream {
        key = { meta.lookup_ssrc: exact @name("ssrc"); }
        actions = { set_stream; stream_to_cpu; drop; }
        default_action = drop();
        size = 1024;
    }
    action set_temporal_layer(bit<8> tid) { meta.tid = tid; }
    table av1_template_layer {
        key = { meta.stream_id: exact @name("stream_id"); meta.dd_template_id: exact @name("template_id"); }
        actions = { set_temporal_layer; @defaultonly NoAction; }
        default_action = NoAction();
        size = 4096;
    }
    action rtcp_to_controller() { to_cpu(REASON_RTCP); }
    action rtcp_to_sender() { }
    action rtcp_replicate() { meta.lookup_ssrc = ighdr.h.rtcp.sender_ssrc; meta.need_stream = 1; }
    action rtcp_drop() { ig_dprsr_md.drop_ctl = 1; }
    table rtcp_route {
        key = { ighdr.h.rtcp.packet_type: exact @name("packet_type"); ighdr.h.rtcp.fmt: ternary @name("fmt"); }
        actions = { rtcp_to_controller; rtcp_to_sender; rtcp_replicate; rtcp_drop; }
        default_action = rtcp_to_controller();
        size = 64;
    }
    action to_sender(PortId_t port, bit<16> rid) {
        ig_tm_md.ucast_egress_port = port;
        ig_dprsr_md.drop_ctl = 0;
        meta.dst_rid = rid;
    }
    action feedback_to_controller() { to_cpu(REASON_NO_FEEDBACK); }
    table feedback_target {
        key = { ighdr.h.rtcp_fb.media_ssrc: exact @name("media_ssrc"); }
        actions = { to_sender; feedback_to_controller; }
        default_action = feedback_to_controller();
        size = 1024;
    }

    apply {
        ighdr.bridge.setValid();
        if (ighdr.h.packet_out.isValid()) {
            ig_tm_md.ucast_egress_port = (PortId_t)ighdr.h.packet_out.egress_port;
            ighdr.h.packet_out.setInvalid();
            ighdr.bridge.from_cpu = 1;
            ig_tm_md.bypass_egress = 1;
            ighdr.bridge.setInvalid();
            exit;
        }
        ig_dprsr_md.drop_ctl = 1;
        port_rx.count(ig_intr_md.ingress_port);
        if (ighdr.h.stun.isValid()) {
            to_cpu(REASON_STUN);
        } else if (ighdr.h.rtcp.isValid()) {
            switch (rtcp_route.apply().action_run) {
                rtcp_to_sender: {
                    if (ighdr.h.rtcp_fb.isValid()) { feedback_target.apply(); }
                    else { to_cpu(REASON_NO_FEEDBACK); }
                }
            }
        } else if (ighdr.h.rtp.isValid()) {
            meta.lookup_ssrc = ighdr.h.rtp.ssrc;
            meta.need_stream = 1;
        } else {
            to_cpu(REASON_OTHER);
        }
        if (meta.need_stream == 1) {
            switch (stream.apply().action_run) {
                set_stream: {
                    stream_rx.count(meta.stream_id);
                    if (ighdr.h.vp8_tk.isValid()) { meta.tid = (bit<8>)ighdr.h.vp8_tk.tid; }
                    else if (meta.dd_valid == 1) { av1_template_layer.apply(); }
                }
            }
        }
        if (ig_tm_md.ucast_egress_port == CPU_PORT) { cpu_tx.count(meta.cpu_reason); }
        ighdr.bridge.stream_id = meta.stream_id;
        ighdr.bridge.sender_rid = meta.sender_rid;
        ighdr.bridge.dst_rid = meta.dst_rid;
        ighdr.bridge.tid = meta.tid;
        ighdr.bridge.cpu_reason = meta.cpu_reason;
    }
}

control SfuIngressDeparser(packet_out pkt, inout ig_headers_t ighdr, in metadata_t meta,
                           in ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md) {
    Checksum() ipv4_csum;
    apply {
        pkt.emit(ighdr.bridge);
        pkt.emit(ighdr.h);
    }
}

parser SfuEgressParser(packet_in pkt, out ig_headers_t ighdr, out egress_meta_t emeta,
                       out egress_intrinsic_metadata_t eg_intr_md) {
    state start {
        pkt.extract(eg_intr_md);
        pkt.extract(ighdr.bridge);
        emeta = {ighdr.bridge.stream_id, ighdr.bridge.sender_rid, ighdr.bridge.tid, 255,
                 ighdr.bridge.from_cpu, ighdr.bridge.cpu_reason, 0, ighdr.bridge.dst_rid};
        transition parse_ethernet;
    }
#define hdr ighdr.h
    state parse_ethernet {
        pkt.extract(hdr.ethernet);
        pkt.extract(hdr.ipv4);
        pkt.extract(hdr.udp);
        transition select(pkt.lookahead<bit<2>>()) {
            2: parse_rtp_or_rtcp;
            default: accept;
        }
    }
    state parse_rtp_or_rtcp {
        transition select(pkt.lookahead<bit<16>>()[7:5]) {
            3w6: accept;        /* RTCP: only addresses are rewritten */
            default: parse_rtp;
        }
    }
    state parse_rtp {
        pkt.extract(hdr.rtp);
        transition accept;
    }
#undef hdr
}

control SfuEgress(inout ig_headers_t ighdr, inout egress_meta_t emeta,
                  in egress_intrinsic_metadata_t eg_intr_md,
                  in egress_intrinsic_metadata_from_parser_t eg_prsr_md,
                  inout egress_intrinsic_metadata_for_deparser_t eg_dprsr_md,
                  inout egress_intrinsic_metadata_for_output_port_t eg_oport_md) {
    /* {highest original seq, packets dropped so far}; `initialised` in bit 31 of hi */
    Register<pair, bit<16>>(4096) seq_state;
    /* {flags ++ original seq, sent seq} per slot and original seq mod 64 */
    Register<pair, bit<32>>(262144) seq_history;
    Counter<bit<64>, bit<16>>(1024, CounterType_t.PACKETS_AND_BYTES) receiver_tx;
    Counter<bit<32>, bit<16>>(4096, CounterType_t.PACKETS) layer_drops;

    bit<16> ahead;
    bit<16> sent;
    bit<1> keep;

    /* hi: 0x8000_0000 | highest; lo: offset. Returns the sequence number to send. */
    RegisterAction<pair, bit<16>, bit<16>>(seq_state) advance_seq = {
        void apply(inout pair st, out bit<16> out_seq) {
            if (st.first[31:31] == 0 || (ighdr.h.rtp.seq - st.first[15:0]) < 0x8000) {
                st.first = 0x80000000 | (bit<32>)ighdr.h.rtp.seq;
                st.second = st.second + (bit<32>)(~keep & 1);
            }
            out_seq = ighdr.h.rtp.seq - st.second[15:0];
        }
    };
    RegisterAction<pair, bit<32>, bit<16>>(seq_history) remember = {
        void apply(inout pair cell) {
            cell.first = (bit<32>)((keep == 1) ? HIST_KEPT : HIST_DROPPED) << 16 | (bit<32>)ighdr.h.rtp.seq;
            cell.second = (bit<32>)sent;
        }
    };

    action drop() { eg_dprsr_md.drop_ctl = 1; }
    action set_slot(bit<16> slot) { emeta.slot = slot; }
    table stream_receiver {
        key = { emeta.stream_id: exact @name("stream_id"); eg_intr_md.egress_rid: exact @name("egress_rid"); }
        actions = { set_slot; drop; }
        default_action = drop();
        size = 16384;
    }
    action set_max_layer(bit<8> max_tid) { emeta.max_tid = max_tid; }
    table receiver_layer {
        key = { eg_intr_md.egress_rid: exact @name("egress_rid"); }
        actions = { set_max_layer; @defaultonly NoAction; }
        default_action = NoAction();
        size = 1024;
    }
    action rewrite(bit<48> src_mac, bit<48> dst_mac, bit<32> src_addr, bit<32> dst_addr,
                   bit<16> src_port, bit<16> dst_port) {
        ighdr.h.ethernet.src_addr = src_mac;
        ighdr.h.ethernet.dst_addr = dst_mac;
        ighdr.h.ipv4.src_addr = src_addr;
        ighdr.h.ipv4.dst_addr = dst_addr;
        ighdr.h.udp.src_port = src_port;
        ighdr.h.udp.dst_port = dst_port;
    }
    table receiver_rewrite {
        key = { emeta.dst_rid: exact @name("rid"); }
        actions = { rewrite; @defaultonly NoAction; }
        default_action = NoAction();
        size = 1024;
    }

    apply {
        if (eg_intr_md.egress_port == CPU_PORT) {
            ighdr.h.packet_in.setValid();
            ighdr.h.packet_in.reason = emeta.cpu_reason;
            exit;
        }
        if (eg_intr_md.egress_rid != 0) {
            if (eg_intr_md.egress_rid == emeta.sender_rid) { drop(); exit; }
            emeta.dst_rid = eg_intr_md.egress_rid;
            if (!stream_receiver.apply().hit) { exit; }
            if (ighdr.h.rtp.isValid()) {
                receiver_layer.apply();
                keep = (emeta.tid <= emeta.max_tid) ? 1w1 : 1w0;
                sent = advance_seq.execute(emeta.slot);
                remember.execute((bit<32>)emeta.slot << 6 | (bit<32>)(ighdr.h.rtp.seq & 63));
                if (keep == 0) { layer_drops.count(emeta.slot); drop(); }
                else { ighdr.h.rtp.seq = sent; }
            }
        }
        receiver_rewrite.apply();
        ighdr.h.udp.checksum = 0;
        receiver_tx.count(emeta.dst_rid);
    }
}

control SfuEgressDeparser(packet_out pkt, inout ig_headers_t ighdr, in egress_meta_t emeta,
                          in egress_intrinsic_metadata_for_deparser_t eg_dprsr_md) {
    Checksum() ipv4_csum;
    apply {
        if (ighdr.h.ipv4.isValid()) {
            ighdr.h.ipv4.hdr_checksum = ipv4_csum.update({
                ighdr.h.ipv4.version, ighdr.h.ipv4.ihl, ighdr.h.ipv4.dscp, ighdr.h.ipv4.ecn,
                ighdr.h.ipv4.total_len, ighdr.h.ipv4.identification, ighdr.h.ipv4.flags,
                ighdr.h.ipv4.frag_offset, ighdr.h.ipv4.ttl, ighdr.h.ipv4.protocol,
                ighdr.h.ipv4.src_addr, ighdr.h.ipv4.dst_addr });
        }
        pkt.emit(ighdr.h);
    }
}

Pipeline(SfuIngressParser(), SfuIngress(), SfuIngressDeparser(),
         SfuEgressParser(), SfuEgress(), SfuEgressDeparser()) pipe;
Switch(pipe) main;
