"""The detector: arbitrage strategies over the quote cache's published books."""
