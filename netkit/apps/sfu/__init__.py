"""Scallop-style selective forwarding unit: control plane, media clients, software baseline, simulated meetings."""
