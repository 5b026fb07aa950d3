/* The SFU data plane for bmv2 (v1model).
 *
 * Media path of a Scallop-style selective forwarding unit:
 *   - RTP from a sender is replicated to its meeting's receivers through a
 *     multicast group (one replica per receiver, egress_rid = receiver id),
 *     never back to the sender;
 *   - each receiver gets at most its maximum temporal layer (VP8 TID, or the
 *     AV1 dependency descriptor's template mapped to a layer by the control plane);
 *   - each receiver sees a gap-free RTP sequence: sequence numbers are rewritten
 *     per (stream, receiver) slot in registers, and a retransmission gets the
 *     number its original got (or is dropped again if its original was);
 *   - an RTX stream (RFC 4588, its own SSRC) is one more stream with its own numbering per receiver;
 *     each copy's OSN becomes the number the receiver got the original as (seq_history);
 *   - addresses and ports are rewritten per receiver;
 *   - RTCP is routed by packet type and FMT: to the media sender, replicated,
 *     or to the controller; STUN goes to the controller.
 * Compile: p4c --target bmv2 --arch v1model --p4runtime-files build/sfu.p4info.txtpb sfu_v1model.p4
 */
#include <core.p4>
#include <v1model.p4>
/* CSRC list and extension block kept whole (advance would cut them out of the packet) */
header rtp_csrc_h {
    varbit<480> list;
}
header rtp_ext_data_h {
    varbit<8160> data;
}
#define ARCH_RTP_EXT_HEADERS rtp_csrc_h rtp_csrc; rtp_ext_data_h rtp_ext_data;
#include "include/headers.p4"
#include "include/checksum.p4"

#define CPU_PORT 255

parser SfuParser(packet_in pkt, out headers_t hdr, inout metadata_t meta,
                 inout standard_metadata_t smeta) {
    state start {
        transition select(smeta.ingress_port) {
            CPU_PORT: parse_packet_out;
            default: parse_ethernet;
        }
    }

    state parse_packet_out {
        pkt.extract(hdr.packet_out);
        transition accept;   /* sent as the controller built it */
    }

#include "include/parser_states.p4"

    state parse_rtp {
        pkt.extract(hdr.rtp);
        transition select(hdr.rtp.csrc_count) {
            0: parse_rtp_ext_bit;
            default: parse_rtp_csrc;
        }
    }

    state parse_rtp_csrc {
        pkt.extract(hdr.rtp_csrc, (bit<32>)hdr.rtp.csrc_count << 5);
        transition parse_rtp_ext_bit;
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
        transition select(hdr.rtp_ext.profile, hdr.rtp_ext.length) {
            (_, 16w0): parse_rtp_payload;
            (RTP_EXT_ONE_BYTE, _): parse_ext_one_byte;
            (RTP_EXT_TWO_BYTE &&& 16w0xFFF0, _): parse_ext_two_byte;
            default: skip_rtp_ext;
        }
    }

    /* The dependency descriptor is recognised as the first element of the block. */
    state parse_ext_one_byte {
        transition select(meta.ext_word[31:28]) {
            AV1_DD_EXT_ID_1B: dd_one_byte;
            default: skip_rtp_ext;
        }
    }
    state dd_one_byte {
        meta.dd_valid = 1;
        meta.dd_template_id = (bit<8>)meta.ext_word[21:16];
        transition skip_rtp_ext;
    }
    state parse_ext_two_byte {
        transition select(meta.ext_word[31:24]) {
            AV1_DD_EXT_ID: dd_two_byte;
            default: skip_rtp_ext;
        }
    }
    state dd_two_byte {
        meta.dd_valid = 1;
        meta.dd_template_id = (bit<8>)meta.ext_word[13:8];
        transition skip_rtp_ext;
    }

    state skip_rtp_ext {
        pkt.extract(hdr.rtp_ext_data, (bit<32>)hdr.rtp_ext.length << 5);
        transition parse_rtp_payload;
    }

    state parse_rtp_payload {
        transition select(hdr.rtp.payload_type) {
            VP8_PAYLOAD_TYPE: parse_vp8;
            RTX_PAYLOAD_TYPE: parse_rtx;
            default: accept;
        }
    }

    state parse_rtx {
        pkt.extract(hdr.rtx);
        transition accept;
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
        transition select(hdr.vp8_x.i) {
            1: parse_vp8_picid;
            default: parse_vp8_tl0;
        }
    }
    state parse_vp8_picid {
        pkt.extract(hdr.vp8_picid);
        transition select(hdr.vp8_picid.m) {
            1: parse_vp8_picid_ext;
            default: parse_vp8_tl0;
        }
    }
    state parse_vp8_picid_ext {
        pkt.extract(hdr.vp8_picid_ext);
        transition parse_vp8_tl0;
    }
    state parse_vp8_tl0 {
        transition select(hdr.vp8_x.l) {
            1: extract_vp8_tl0;
            default: parse_vp8_tk;
        }
    }
    state extract_vp8_tl0 {
        pkt.extract(hdr.vp8_tl0);
        transition parse_vp8_tk;
    }
    state parse_vp8_tk {
        transition select(hdr.vp8_x.t, hdr.vp8_x.k) {
            (0, 0): accept;
            default: extract_vp8_tk;
        }
    }
    state extract_vp8_tk {
        pkt.extract(hdr.vp8_tk);
        transition accept;
    }
}

control SfuVerifyChecksum(inout headers_t hdr, inout metadata_t meta) {
    apply { }
}

control SfuIngress(inout headers_t hdr, inout metadata_t meta,
                   inout standard_metadata_t smeta) {
    counter(512, CounterType.packets_and_bytes) port_rx;
    counter(1024, CounterType.packets_and_bytes) stream_rx;
    counter(16, CounterType.packets_and_bytes) cpu_tx;

    action to_cpu(bit<8> reason) {
        smeta.egress_spec = CPU_PORT;
        smeta.mcast_grp = 0;
        meta.cpu_reason = reason;
    }
    action drop() {
        mark_to_drop(smeta);
    }

    /* --- media streams, by SSRC --- */
    action set_stream(bit<16> stream_id, bit<16> mcast_grp, bit<16> sender_rid) {
        meta.stream_id = stream_id;
        smeta.mcast_grp = mcast_grp;
        meta.sender_rid = sender_rid;
    }
    action stream_to_cpu() {
        to_cpu(REASON_UNKNOWN_STREAM);
    }
    table stream {
        key = { meta.lookup_ssrc: exact @name("ssrc"); }
        actions = { set_stream; stream_to_cpu; drop; }
        default_action = drop();
        size = 1024;
    }

    /* --- AV1: dependency-descriptor template -> temporal layer --- */
    action set_temporal_layer(bit<8> tid) {
        meta.tid = tid;
    }
    table av1_template_layer {
        key = {
            meta.stream_id: exact @name("stream_id");
            meta.dd_template_id: exact @name("template_id");
        }
        actions = { set_temporal_layer; @defaultonly NoAction; }
        default_action = NoAction();
        size = 4096;
    }

    /* --- RTCP routing by packet type and FMT --- */
    action rtcp_to_controller() {
        to_cpu(REASON_RTCP);
    }
    action rtcp_to_sender() { }
    action rtcp_replicate() {
        meta.lookup_ssrc = hdr.rtcp.sender_ssrc;
        meta.need_stream = 1;
    }
    action rtcp_drop() {
        mark_to_drop(smeta);
    }
    table rtcp_route {
        key = {
            hdr.rtcp.packet_type: exact @name("packet_type");
            hdr.rtcp.fmt: ternary @name("fmt");
        }
        actions = { rtcp_to_controller; rtcp_to_sender; rtcp_replicate; rtcp_drop; }
        default_action = rtcp_to_controller();
        size = 64;
    }

    /* --- feedback (PLI, FIR, NACK...) to the sender of the media SSRC --- */
    action to_sender(bit<9> port, bit<16> rid) {
        smeta.egress_spec = port;
        meta.dst_rid = rid;
    }
    action feedback_to_controller() {
        to_cpu(REASON_NO_FEEDBACK);
    }
    table feedback_target {
        key = { hdr.rtcp_fb.media_ssrc: exact @name("media_ssrc"); }
        actions = { to_sender; feedback_to_controller; }
        default_action = feedback_to_controller();
        size = 1024;
    }

    apply {
        if (hdr.packet_out.isValid()) {
            smeta.egress_spec = (bit<9>)hdr.packet_out.egress_port;
            hdr.packet_out.setInvalid();
            meta.from_cpu = 1;
            exit;
        }
        mark_to_drop(smeta);
        meta.max_tid = 255;
        port_rx.count((bit<32>)smeta.ingress_port);
        if (hdr.stun.isValid()) {
            to_cpu(REASON_STUN);
        } else if (hdr.rtcp.isValid()) {
            switch (rtcp_route.apply().action_run) {
                rtcp_to_sender: {
                    if (hdr.rtcp_fb.isValid()) {
                        feedback_target.apply();
                    } else {
                        to_cpu(REASON_NO_FEEDBACK);
                    }
                }
            }
        } else if (hdr.rtp.isValid()) {
            meta.lookup_ssrc = hdr.rtp.ssrc;
            meta.need_stream = 1;
        } else {
            to_cpu(REASON_OTHER);
        }
        if (meta.need_stream == 1) {
            switch (stream.apply().action_run) {
                set_stream: {
                    stream_rx.count((bit<32>)meta.stream_id);
                    if (hdr.vp8_tk.isValid()) {
                        meta.tid = (bit<8>)hdr.vp8_tk.tid;
                    } else if (meta.dd_valid == 1) {
                        av1_template_layer.apply();
                    }
                }
            }
        }
        if (smeta.egress_spec == CPU_PORT) {
            cpu_tx.count((bit<32>)meta.cpu_reason);
        }
    }
}

control SfuEgress(inout headers_t hdr, inout metadata_t meta,
                  inout standard_metadata_t smeta) {
    /* per slot: {initialised:16, highest original seq:16, packets dropped so far:16} */
    register<bit<48>>(4096) seq_state;
    /* per slot and (original seq mod 64): {HIST_KEPT|HIST_DROPPED:16, original seq:16, sent seq:16} */
    register<bit<48>>(262144) seq_history;
    counter(1024, CounterType.packets_and_bytes) receiver_tx;
    counter(4096, CounterType.packets) layer_drops;

    action drop() {
        mark_to_drop(smeta);
    }
    action set_slot(bit<16> slot) {
        meta.slot = slot;
        meta.subscribed = 1;
    }
    /* an RTX stream (RFC 4588, its own SSRC): its numbers rewritten in `slot`, its OSN through the
       seq_history of `media_slot`, the (stream it retransmits, this receiver) slot */
    action set_rtx_slot(bit<16> slot, bit<16> media_slot) {
        meta.slot = slot;
        meta.media_slot = media_slot;
        meta.is_rtx = 1;
        meta.subscribed = 1;
    }
    table stream_receiver {
        key = {
            meta.stream_id: exact @name("stream_id");
            smeta.egress_rid: exact @name("egress_rid");
        }
        actions = { set_slot; set_rtx_slot; drop; }
        default_action = drop();
        size = 16384;
    }

    action set_max_layer(bit<8> max_tid) {
        meta.max_tid = max_tid;
    }
    table receiver_layer {
        key = { smeta.egress_rid: exact @name("egress_rid"); }
        actions = { set_max_layer; @defaultonly NoAction; }
        default_action = NoAction();
        size = 1024;
    }

    action rewrite(bit<48> src_mac, bit<48> dst_mac, bit<32> src_addr, bit<32> dst_addr,
                   bit<16> src_port, bit<16> dst_port) {
        hdr.ethernet.src_addr = src_mac;
        hdr.ethernet.dst_addr = dst_mac;
        hdr.ipv4.src_addr = src_addr;
        hdr.ipv4.dst_addr = dst_addr;
        hdr.udp.src_port = src_port;
        hdr.udp.dst_port = dst_port;
    }
    table receiver_rewrite {
        key = { meta.dst_rid: exact @name("rid"); }
        actions = { rewrite; @defaultonly NoAction; }
        default_action = NoAction();
        size = 1024;
    }

    apply {
        if (meta.from_cpu == 1) {
            return;
        }
        if (smeta.egress_port == CPU_PORT) {
            hdr.packet_in.setValid();
            hdr.packet_in.ingress_port = (bit<16>)smeta.ingress_port;
            hdr.packet_in.reason = meta.cpu_reason;
            return;
        }
        if (smeta.egress_rid != 0) {
            if (smeta.egress_rid == meta.sender_rid) {
                mark_to_drop(smeta);
                return;
            }
            meta.dst_rid = smeta.egress_rid;
            stream_receiver.apply();
            if (meta.subscribed == 0) {
                return;
            }
            if (hdr.rtp.isValid()) {
                receiver_layer.apply();
                if (meta.is_rtx == 1) {
                    /* the OSN becomes the number this receiver got the original as; an original it never
                       got (a layer it does not receive) drops the RTX copy, gap-free like a layer drop */
                    meta.rtx_miss = 1;
                    if (hdr.rtx.isValid()) {
                        bit<48> m;
                        seq_history.read(m, ((bit<32>)meta.media_slot << SEQ_HISTORY_BITS) | (bit<32>)(hdr.rtx.osn & 63));
                        if (m[47:32] == HIST_KEPT && m[31:16] == hdr.rtx.osn) {
                            hdr.rtx.osn = m[15:0];
                            meta.rtx_miss = 0;
                        }
                    }
                }
                bit<48> st;
                seq_state.read(st, (bit<32>)meta.slot);
                bit<16> highest = st[31:16];
                bit<16> offset = st[15:0];
                if (st[47:32] == 0) {
                    highest = hdr.rtp.seq - 1;
                    offset = 0;
                }
                bit<16> seq = hdr.rtp.seq;
                bit<16> ahead = seq - highest;
                bit<32> base = (bit<32>)meta.slot << SEQ_HISTORY_BITS;
                bit<32> cell = base | (bit<32>)(seq & 63);
                if (ahead != 0 && ahead < 0x8000) {
                    /* new: remember the numbers of up to SEQ_GAP_RECORDED skipped packets */
                    if (ahead >= 2) {
                        seq_history.write(base | (bit<32>)((seq - 1) & 63), HIST_KEPT ++ (seq - 1) ++ (seq - 1 - offset));
                    }
                    if (ahead >= 3) {
                        seq_history.write(base | (bit<32>)((seq - 2) & 63), HIST_KEPT ++ (seq - 2) ++ (seq - 2 - offset));
                    }
                    if (ahead >= 4) {
                        seq_history.write(base | (bit<32>)((seq - 3) & 63), HIST_KEPT ++ (seq - 3) ++ (seq - 3 - offset));
                    }
                    highest = seq;
                    if (meta.tid <= meta.max_tid && meta.rtx_miss == 0) {
                        hdr.rtp.seq = seq - offset;
                        seq_history.write(cell, HIST_KEPT ++ seq ++ (seq - offset));
                    } else {
                        offset = offset + 1;
                        seq_history.write(cell, HIST_DROPPED ++ seq ++ 16w0);
                        layer_drops.count((bit<32>)meta.slot);
                        mark_to_drop(smeta);
                    }
                    seq_state.write((bit<32>)meta.slot, 16w1 ++ highest ++ offset);
                } else {
                    /* a retransmission, duplicate or late packet */
                    bit<48> h;
                    seq_history.read(h, cell);
                    if (h[47:32] == HIST_KEPT && h[31:16] == seq) {
                        hdr.rtp.seq = h[15:0];
                    } else if (h[47:32] == HIST_DROPPED && h[31:16] == seq) {
                        layer_drops.count((bit<32>)meta.slot);
                        mark_to_drop(smeta);
                    } else if (meta.tid <= meta.max_tid && meta.rtx_miss == 0) {
                        hdr.rtp.seq = seq - offset;
                    } else {
                        layer_drops.count((bit<32>)meta.slot);
                        mark_to_drop(smeta);
                    }
                }
            }
        }
        receiver_rewrite.apply();
        if (hdr.udp.isValid()) {
            hdr.udp.checksum = 0;   /* payload rewritten; zero is valid for UDP over IPv4 */
        }
        receiver_tx.count((bit<32>)meta.dst_rid);
    }
}

control SfuComputeChecksum(inout headers_t hdr, inout metadata_t meta) {
    apply {
        update_checksum(hdr.ipv4.isValid(), IPV4_CHECKSUM_FIELDS,
                        hdr.ipv4.hdr_checksum, HashAlgorithm.csum16);
    }
}

control SfuDeparser(packet_out pkt, in headers_t hdr) {
    apply {
        pkt.emit(hdr.packet_in);
        pkt.emit(hdr.ethernet);
        pkt.emit(hdr.ipv4);
        pkt.emit(hdr.udp);
        pkt.emit(hdr.stun);
        pkt.emit(hdr.rtcp);
        pkt.emit(hdr.rtcp_fb);
        pkt.emit(hdr.rtp);
        pkt.emit(hdr.rtp_csrc);
        pkt.emit(hdr.rtp_ext);
        pkt.emit(hdr.rtp_ext_data);
        pkt.emit(hdr.vp8);
        pkt.emit(hdr.vp8_x);
        pkt.emit(hdr.vp8_picid);
        pkt.emit(hdr.vp8_picid_ext);
        pkt.emit(hdr.vp8_tl0);
        pkt.emit(hdr.vp8_tk);
        pkt.emit(hdr.rtx);
    }
}

V1Switch(SfuParser(), SfuVerifyChecksum(), SfuIngress(), SfuEgress(),
         SfuComputeChecksum(), SfuDeparser()) main;
