"""The inbox (#11): what residents say back, read from each network, kept in the ledger,
triaged and answered.  Beside ``channels/``, not threaded through the publisher: the
daemon only asks it to poll (``fetch.Poller``)."""
