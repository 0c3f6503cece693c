"""The live tracer edge: websocket server, terminal view and the browser page."""
