"""What keeps a running bot honest: durable state, logs, metrics and health."""
