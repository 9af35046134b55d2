"""Storage: Postgres through asyncpg/trio-asyncio, the batched DB writer and its journal."""
