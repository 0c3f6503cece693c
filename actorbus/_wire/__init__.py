"""The wire layer: frames, subjects and the call/gather protocol. Pure: no I/O, no Trio."""
