"""The sans-IO parts of applications: the scenario's workload (over the link or the network layer's service), QKD and
CHSH closed forms and bookkeeping, the execution of compiled distributed programs (run by :mod:`stack.api`)."""
