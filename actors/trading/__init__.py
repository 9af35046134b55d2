"""The trading path: fund manager (single owner of money), executor (orders), their pure
state machines (ledger, checks, ladder, ids, rate limiter, breaker, retry policy)."""
