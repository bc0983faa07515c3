"""Model families (blip2/, video_llm/) and what their loaders and generation loops share."""
