"""netkit.sim."""
