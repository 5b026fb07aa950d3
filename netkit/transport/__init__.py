"""netkit.transport."""
