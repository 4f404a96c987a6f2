"""Time synchronisation: the PTPv2 ordinary clock (IEEE 1588) and its PI servo."""
