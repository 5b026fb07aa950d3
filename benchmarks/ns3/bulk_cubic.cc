// The ns-3 side of benchmarks/vs_ns3.py: N Cubic bulk flows from one node to another over one
// point-to-point link (the bottleneck), the same model netkit's two_host_path / dumbbell builds.
//
// Equalised with netkit (see vs_ns3.py's docstring): the forward device's DataRate is scaled by
// 1502/1504 so a 1500-byte IP packet (+2 bytes of PPP framing) takes as long as it takes netkit's
// trace link (+4 bytes of TUN header per 1504-byte opportunity); TCP segments carry 1448 bytes so
// IP packets are 1500 bytes (20 IP + 32 TCP with timestamps); the reverse device is 100 Gbit/s, so
// ACKs see only the propagation delay, as on netkit's delay-only feedback path; no queue disc sits
// in front of the device, whose DropTail queue holds the buffer (the packet on the wire is not in
// it, as in netkit); HyStart is off (netkit's Cubic has none); buffers are large enough that the
// receive window never limits a flow (1 GiB) and the send buffer is larger than any window the
// scenario reaches (--sndbuf; BulkSend keeps it full, so it also sets ns-3's memory).
//
// Prints one line: key=value pairs (wall seconds of Simulator::Run, delivered data packets).
#include <chrono>
#include <cstdint>
#include <iostream>

#include "ns3/applications-module.h"
#include "ns3/core-module.h"
#include "ns3/internet-module.h"
#include "ns3/network-module.h"
#include "ns3/point-to-point-module.h"
#include "ns3/traffic-control-module.h"

using namespace ns3;

int main(int argc, char* argv[]) {
  double rateBps = 12e6;     // bottleneck rate as netkit's trace states it (1504-byte opportunities)
  double delayMs = 20;       // one-way propagation delay
  uint32_t queuePackets = 40;  // 0: unbounded
  uint32_t flows = 1;
  double seconds = 300;
  uint32_t segSize = 1448;
  uint32_t sndBuf = 2u << 20;  // per flow; BulkSend keeps it full, so it sets ns-3's memory
  CommandLine cmd;
  cmd.AddValue("rate", "bottleneck rate in bit/s (netkit trace rate)", rateBps);
  cmd.AddValue("delay", "one-way delay in ms", delayMs);
  cmd.AddValue("queue", "droptail limit in packets (0: unbounded)", queuePackets);
  cmd.AddValue("flows", "number of bulk flows", flows);
  cmd.AddValue("seconds", "simulated seconds", seconds);
  cmd.AddValue("seg", "TCP segment size", segSize);
  cmd.AddValue("sndbuf", "TCP send buffer per flow in bytes (must exceed the largest cwnd)", sndBuf);
  cmd.Parse(argc, argv);

  Config::SetDefault("ns3::TcpL4Protocol::SocketType", TypeIdValue(TcpCubic::GetTypeId()));
  Config::SetDefault("ns3::TcpSocket::SegmentSize", UintegerValue(segSize));
  Config::SetDefault("ns3::TcpSocket::InitialCwnd", UintegerValue(10));
  Config::SetDefault("ns3::TcpSocket::SndBufSize", UintegerValue(sndBuf));
  Config::SetDefault("ns3::TcpSocket::RcvBufSize", UintegerValue(1u << 30));
  Config::SetDefault("ns3::TcpCubic::HyStart", BooleanValue(false));

  NodeContainer nodes;
  nodes.Create(2);
  PointToPointHelper p2p;
  p2p.SetChannelAttribute("Delay", TimeValue(MilliSeconds(delayMs)));
  uint32_t limit = queuePackets ? queuePackets : 100000000u;
  p2p.SetQueue("ns3::DropTailQueue<Packet>", "MaxSize",
               QueueSizeValue(QueueSize(QueueSizeUnit::PACKETS, limit)));
  NetDeviceContainer devs = p2p.Install(nodes);
  devs.Get(0)->SetAttribute("DataRate", DataRateValue(DataRate(uint64_t(rateBps * 1502.0 / 1504.0))));
  devs.Get(1)->SetAttribute("DataRate", DataRateValue(DataRate("100Gbps")));

  InternetStackHelper stack;
  stack.Install(nodes);
  Ipv4AddressHelper addr;
  addr.SetBase("10.1.1.0", "255.255.255.0");
  Ipv4InterfaceContainer ifs = addr.Assign(devs);
  TrafficControlHelper tch;
  tch.Uninstall(devs);  // Assign installed pfifo_fast; the device's DropTail queue is the buffer

  ApplicationContainer sinks;
  for (uint32_t i = 0; i < flows; ++i) {
    uint16_t port = 5000 + i;
    BulkSendHelper src("ns3::TcpSocketFactory", InetSocketAddress(ifs.GetAddress(1), port));
    src.SetAttribute("MaxBytes", UintegerValue(0));
    src.SetAttribute("SendSize", UintegerValue(segSize * 10));
    src.Install(nodes.Get(0)).Start(Seconds(0));
    PacketSinkHelper sink("ns3::TcpSocketFactory", InetSocketAddress(Ipv4Address::GetAny(), port));
    sinks.Add(sink.Install(nodes.Get(1)));
  }
  sinks.Start(Seconds(0));
  Simulator::Stop(Seconds(seconds));
  auto t0 = std::chrono::steady_clock::now();
  Simulator::Run();
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  uint64_t rx = 0;
  for (uint32_t i = 0; i < sinks.GetN(); ++i) {
    rx += DynamicCast<PacketSink>(sinks.Get(i))->GetTotalRx();
  }
  Simulator::Destroy();
  std::cout << "run_wall_s=" << wall << " delivered_bytes=" << rx << " delivered_packets=" << rx / segSize
            << std::endl;
  return 0;
}
