"""netkit.experiment: experiment files, the app registry, running (sim and emu), sweeps and the one record.

See docs/experiments.md. Importing this package loads no app and nothing heavy; the
network description it builds on is `netkit.net` (below the simulator and the live
emulation, which both build from it).
"""
