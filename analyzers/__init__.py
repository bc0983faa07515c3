"""Video analyzers: frame sampling, the analyzer contract, BLIP-2 and the result schema."""
