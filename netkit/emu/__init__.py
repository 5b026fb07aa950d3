"""netkit.emu."""
