"""Local test doubles for every network's HTTP API, on 127.0.0.1 only."""


def credentials_env(*networks: str) -> dict[str, str]:
    """The environment a daemon child process needs for the test servers' credentials,
    for channels named after their networks."""
    from . import graph, linkedin, mastodon, youtube

    env: dict[str, str] = {}
    for network in networks:
        if network == "x":
            env.update({f"CIVICPOST_X_{f.upper()}": f"x-{f}" for f in
                        ("consumer_key", "consumer_secret", "access_token", "access_token_secret")})
        elif network == "mastodon":
            env["CIVICPOST_MASTODON_ACCESS_TOKEN"] = mastodon.TOKEN
        elif network in ("facebook", "instagram", "threads"):
            env[f"CIVICPOST_{network.upper()}_ACCESS_TOKEN"] = graph.TOKEN
        elif network == "linkedin":
            env["CIVICPOST_LINKEDIN_ACCESS_TOKEN"] = linkedin.TOKEN
        elif network == "youtube":
            env.update({f"CIVICPOST_YOUTUBE_{k.upper()}": v for k, v in youtube.CLIENT.items()})
    return env


def channel_tables(urls: dict[str, str], **extra: dict[str, object]) -> str:
    """config.toml `[channels.NAME]` tables (channel named after its network) pointing each
    network at its test server's URL, with the identifiers the test servers expect.
    `extra` adds settings per channel, e.g. `linkedin={"token_expires": "2020-01-31"}`."""
    from . import graph, linkedin, youtube

    identifiers = {
        "mastodon": {"instance": "https://mastodon.example"},
        "facebook": {"page_id": graph.PAGE_ID},
        "instagram": {"ig_user_id": graph.IG_USER, "media_base_url": "https://www.example.gov.uk/social",
                      "container_poll_seconds": 0.1},
        "threads": {"threads_user_id": graph.THREADS_USER, "media_base_url": "https://www.example.gov.uk/social",
                    "container_poll_seconds": 0.1},
        "linkedin": {"organization": linkedin.ORG, "video_poll_seconds": 0.1},
        "youtube": {"channel_id": youtube.CHANNEL_ID},
    }
    tables = []
    for network, url in urls.items():
        settings = {"network": network, **identifiers.get(network, {}), **extra.get(network, {}), "api_base": url}
        lines = [f"[channels.{network}]"]
        for key, value in settings.items():
            text = str(value) if isinstance(value, (int, float)) or key == "token_expires" else f'"{value}"'
            lines.append(f"{key} = {text}")
        tables.append("\n".join(lines) + "\n")
    return "".join(tables)
