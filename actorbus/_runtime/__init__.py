"""The runtime: actors, declarations, calls out, requests in, the hub and the control plane."""
