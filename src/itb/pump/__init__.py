"""The implanted pump as a device: reservoir, catheter, alarms, battery, MRI, event log,
on a virtual clock that jumps from event to event."""
