"""civicpost: scheduled, multi-channel publishing for public-sector comms teams."""

__version__ = "0.1.0"
