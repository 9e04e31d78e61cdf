"""The thin shell: reading files, writing output, splitting batch work across processes."""
