"""``arbtree inspect``: the supervision-tree inspector (rendering, client, live app)."""
