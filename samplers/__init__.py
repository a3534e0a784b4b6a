"""Generic Markov-chain and flow samplers of batched log-densities (see DESIGN.md); imports nothing from glassgen."""
