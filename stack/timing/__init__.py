"""Node clocks and their synchronisation at run time (PTP layers, offset sampling, the sync report)."""
