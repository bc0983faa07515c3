"""Reading videos: probe, the frame table, the PyAV and decord readers, and frame sampling."""
