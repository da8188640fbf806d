"""A local stand-in for Anthropic's Messages API, served on 127.0.0.1 (see server.py)."""
