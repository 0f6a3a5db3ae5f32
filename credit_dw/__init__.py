"""Cross-cutting pieces: settings, warehouse connection, command line."""
