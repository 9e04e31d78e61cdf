"""Simulations built on the pump, the link and the programmer: fault campaigns, fleets."""
