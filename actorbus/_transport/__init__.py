"""The transport layer: one small interface (bytes + subjects) and its implementations."""
