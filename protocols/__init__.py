"""What flows through arbtree: typed messages, venue wire formats, books, config schema.

Pure: no I/O, and it imports nothing else of ours.
"""
