"""Support package for examples/raft.py: a small Raft node (node.py) and its process entry point."""
