/* The IPv4 header checksum as both architectures compute it (fields in order). */
#ifndef _SFU_CHECKSUM_P4_
#define _SFU_CHECKSUM_P4_
#define IPV4_CHECKSUM_FIELDS { hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.dscp, hdr.ipv4.ecn, \
    hdr.ipv4.total_len, hdr.ipv4.identification, hdr.ipv4.flags, hdr.ipv4.frag_offset, \
    hdr.ipv4.ttl, hdr.ipv4.protocol, hdr.ipv4.src_addr, hdr.ipv4.dst_addr }
#endif
