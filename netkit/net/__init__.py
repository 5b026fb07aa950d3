"""The one description of a network: link directions, topologies and the seed derivation.

Both drivers build from it: the simulator (`netkit.sim.build`) and the live
emulation (`netkit.emu.harness`, the link process, Mininet's `TraceLink`), with
the same element order (Delay, loss, TraceLink with its queue) and the same
seeds, derived from one experiment seed by component name (`component_seed`).
"""
from netkit.net.direction import DirectionPlan, LinkDirection, LinkPlan, get_trace
from netkit.net.seeds import component_seed
from netkit.net.topology import TOPOLOGIES, Topology

__all__ = ["LinkDirection", "DirectionPlan", "LinkPlan", "Topology", "TOPOLOGIES", "component_seed", "get_trace"]
