"""Pure calculation and clinical rules. Imports nothing from the rest of ``itb``; no I/O."""
