"""Command-line interface: thin parsers over the library; heavy imports happen inside handlers."""
