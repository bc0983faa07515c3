"""Monitoring: metric definitions, GPU helpers and the system monitor script."""
