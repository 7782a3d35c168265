"""``/tidings``: the chat command that sets Tidings up from Slack or Discord, read and run once here."""
