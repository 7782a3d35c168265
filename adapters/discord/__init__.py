"""Discord adapter: discord.py app commands, mentions and the ChatPlatform port for digests."""
