"""Physical layer: hardware commands and events, the node's heralding engine, stations, and the closed forms
of the heralding schemes and of the quantum channel (fibre, Werner states, memory decoherence)."""
