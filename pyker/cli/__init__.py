"""The Docker-compatible command line: argument parsing, output formatting, exit codes."""
