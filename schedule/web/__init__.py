"""The team's web page (`bot.py serve`): see docs/web.md."""
