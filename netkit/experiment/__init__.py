"""netkit.experiment."""
