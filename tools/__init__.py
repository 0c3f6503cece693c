"""Developer tools for actorbus (not part of the installed package)."""
