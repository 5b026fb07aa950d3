"""netkit.p4."""
