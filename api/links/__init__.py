"""Page links (TikTok, Reels, Shorts, pages with a video): yt-dlp finds it, we fetch it."""
