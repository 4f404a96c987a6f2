"""The quantum medium (the only code that touches stim), link budgets and heralded entanglement generation."""
