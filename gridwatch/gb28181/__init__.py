"""GB/T 28181: devices and lower platforms that register to GridWatch over SIP."""
