"""The JSON contracts of ``shared/spec/``: parsing input into domain objects (collecting every
violation) and shaping results into the contract's output. Pure functions, no I/O."""
