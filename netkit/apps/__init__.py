"""netkit.apps."""
