"""Command-line commands, one module per group; ``retain.cli`` registers them."""
