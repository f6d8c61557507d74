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
