"""Applications over the link layer's service: the scenario's workload."""
