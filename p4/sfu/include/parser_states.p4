/* Parser states shared by both architectures: included inside each parser,
 * which names its packet `pkt` and its outputs `hdr` and `meta`, and starts at
 * `parse_ethernet` for front-panel ports.
 *
 * UDP payloads are classified as in RFC 7983 / RFC 5761: STUN (first two bits 0
 * and the magic cookie), RTCP (version 2, second byte 192..223), RTP (version 2).
 */
state parse_ethernet {
    pkt.extract(hdr.ethernet);
    transition select(hdr.ethernet.ether_type) {
        ETHERTYPE_IPV4: parse_ipv4;
        default: accept;
    }
}

state parse_ipv4 {
    pkt.extract(hdr.ipv4);
    transition select(hdr.ipv4.ihl, hdr.ipv4.frag_offset, hdr.ipv4.protocol) {
        (4w5, 13w0, IP_PROTO_UDP): parse_udp;
        default: accept;
    }
}

state parse_udp {
    pkt.extract(hdr.udp);
    transition select(pkt.lookahead<bit<64>>()) {
        64w0x000000002112A442 &&& 64w0xC0000000FFFFFFFF: parse_stun;
        64w0x80C0000000000000 &&& 64w0xC0E0000000000000: parse_rtcp;
        64w0x8000000000000000 &&& 64w0xC000000000000000: parse_rtp;
        default: accept;
    }
}

state parse_stun {
    pkt.extract(hdr.stun);
    transition accept;
}

state parse_rtcp {
    pkt.extract(hdr.rtcp);
    transition select(hdr.rtcp.packet_type) {
        RTCP_RTPFB: parse_rtcp_fb;
        RTCP_PSFB: parse_rtcp_fb;
        default: accept;
    }
}

state parse_rtcp_fb {
    pkt.extract(hdr.rtcp_fb);
    transition accept;
}
