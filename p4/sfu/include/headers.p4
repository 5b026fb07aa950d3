/* SFU data plane: header types and constants shared by the v1model and TNA programs.
 *
 * The software target (netkit/p4/software/) implements exactly these formats;
 * keep the two in step (tests/test_p4_p4info.py checks names against the P4Info).
 */
#ifndef _SFU_HEADERS_P4_
#define _SFU_HEADERS_P4_
/* The including program defines ARCH_RTP_EXT_HEADERS (members of headers_t) first. */

const bit<16> ETHERTYPE_IPV4   = 0x0800;
const bit<8>  IP_PROTO_UDP     = 17;
const bit<32> STUN_MAGIC       = 0x2112A442;
const bit<16> RTP_EXT_ONE_BYTE = 0xBEDE;   /* RFC 8285 one-byte header form */
const bit<16> RTP_EXT_TWO_BYTE = 0x1000;   /* RFC 8285 two-byte header form (appbits 0) */
const bit<7>  VP8_PAYLOAD_TYPE = 96;       /* RTP payload type carrying the VP8 descriptor */
const bit<7>  RTX_PAYLOAD_TYPE = 97;       /* RFC 4588 retransmission of payload type 96 (apt=96) */
const bit<8>  AV1_DD_EXT_ID    = 12;       /* extension id of the AV1 dependency descriptor */
const bit<4>  AV1_DD_EXT_ID_1B = 12;       /* the same id in a one-byte element header */

const bit<8> RTCP_SR    = 200;
const bit<8> RTCP_RR    = 201;
const bit<8> RTCP_RTPFB = 205;   /* FMT 1 NACK, 15 transport-wide CC */
const bit<8> RTCP_PSFB  = 206;   /* FMT 1 PLI, 4 FIR, 15 REMB */

/* packet-in reasons (packet_in.reason) */
const bit<8> REASON_STUN           = 1;
const bit<8> REASON_RTCP           = 2;
const bit<8> REASON_UNKNOWN_STREAM = 3;
const bit<8> REASON_OTHER          = 4;
const bit<8> REASON_NO_FEEDBACK    = 5;

/* seq_history cell flags (bits 47:32) */
const bit<16> HIST_KEPT    = 1;
const bit<16> HIST_DROPPED = 2;
/* skipped (upstream-lost) sequence numbers remembered when a gap is seen */
#define SEQ_GAP_RECORDED 3
#define SEQ_HISTORY_BITS 6     /* 64 cells of history per (stream, receiver) slot */

@controller_header("packet_in")
header packet_in_h {
    bit<16> ingress_port;
    bit<8>  reason;
}

@controller_header("packet_out")
header packet_out_h {
    bit<16> egress_port;
}

header ethernet_h {
    bit<48> dst_addr;
    bit<48> src_addr;
    bit<16> ether_type;
}

header ipv4_h {
    bit<4>  version;
    bit<4>  ihl;
    bit<6>  dscp;
    bit<2>  ecn;
    bit<16> total_len;
    bit<16> identification;
    bit<3>  flags;
    bit<13> frag_offset;
    bit<8>  ttl;
    bit<8>  protocol;
    bit<16> hdr_checksum;
    bit<32> src_addr;
    bit<32> dst_addr;
}

header udp_h {
    bit<16> src_port;
    bit<16> dst_port;
    bit<16> length;
    bit<16> checksum;
}

header stun_h {
    bit<16> msg_type;
    bit<16> msg_length;
    bit<32> magic_cookie;
    bit<96> transaction_id;
}

header rtp_h {
    bit<2>  version;
    bit<1>  padding;
    bit<1>  extension;
    bit<4>  csrc_count;
    bit<1>  marker;
    bit<7>  payload_type;
    bit<16> seq;
    bit<32> timestamp;
    bit<32> ssrc;
}

/* RFC 8285 extension block header; `length` counts 32-bit words after it */
header rtp_ext_h {
    bit<16> profile;
    bit<16> length;
}

/* VP8 payload descriptor, RFC 7741 section 4.2 */
header vp8_h {
    bit<1> x;
    bit<1> r;
    bit<1> n;
    bit<1> s;
    bit<1> r2;
    bit<3> pid;
}
header vp8_x_h {
    bit<1> i;
    bit<1> l;
    bit<1> t;
    bit<1> k;
    bit<4> rsv;
}
header vp8_picid_h {
    bit<1> m;
    bit<7> picid;
}
header vp8_picid_ext_h {
    bit<8> picid_lo;
}
header vp8_tl0_h {
    bit<8> tl0picidx;
}
/* RFC 4588: the original sequence number leads an RTX payload */
header rtx_h {
    bit<16> osn;
}

header vp8_tk_h {
    bit<2> tid;
    bit<1> y;
    bit<5> keyidx;
}

/* RTCP common header (RFC 3550 / RFC 4585): fmt is RC for SR/RR */
header rtcp_h {
    bit<2>  version;
    bit<1>  padding;
    bit<5>  fmt;
    bit<8>  packet_type;
    bit<16> length;
    bit<32> sender_ssrc;
}
/* RFC 4585 feedback: SSRC of the media source the feedback is about */
header rtcp_fb_h {
    bit<32> media_ssrc;
}

struct headers_t {
    packet_out_h    packet_out;
    packet_in_h     packet_in;
    ethernet_h      ethernet;
    ipv4_h          ipv4;
    udp_h           udp;
    stun_h          stun;
    rtp_h           rtp;
    rtp_ext_h       rtp_ext;
    ARCH_RTP_EXT_HEADERS   /* CSRC list and extension data: varbit on v1model, word stacks on TNA */
    vp8_h           vp8;
    vp8_x_h         vp8_x;
    vp8_picid_h     vp8_picid;
    vp8_picid_ext_h vp8_picid_ext;
    vp8_tl0_h       vp8_tl0;
    vp8_tk_h        vp8_tk;
    rtx_h           rtx;
    rtcp_h          rtcp;
    rtcp_fb_h       rtcp_fb;
}

struct metadata_t {
    bit<32> lookup_ssrc;     /* SSRC the stream table is looked up with (RTP ssrc or SR sender ssrc) */
    bit<1>  need_stream;
    bit<1>  from_cpu;
    bit<8>  cpu_reason;
    bit<16> stream_id;
    bit<16> sender_rid;      /* replication id of the stream's sender: never replicated back to it */
    bit<16> dst_rid;         /* receiver a packet leaves for (egress_rid, or the feedback target) */
    bit<8>  tid;             /* temporal layer of the packet */
    bit<8>  max_tid;         /* highest temporal layer the receiver gets */
    bit<1>  dd_valid;        /* an AV1 dependency descriptor is the first header extension */
    bit<8>  dd_template_id;
    bit<16> slot;            /* sequence-rewrite register slot of (stream, receiver) */
    bit<16> media_slot;      /* RTX stream: the slot of the stream it retransmits (its OSN is rewritten there) */
    bit<1>  is_rtx;
    bit<1>  rtx_miss;        /* RTX of a packet this receiver's copy of the media stream never had */
    bit<1>  subscribed;
    bit<32> ext_word;        /* lookahead at the first extension element */
}

#endif
