"""LinkedIn organisation page, over plain HTTP with requests.

There is no well-kept Python SDK for LinkedIn's current versioned REST API (/rest/posts,
/rest/images), so the channel speaks it directly: ``LinkedIn-Version`` and
``X-Restli-Protocol-Version`` headers, posts as the organisation URN, images through the
Images API (initializeUpload, then PUT the bytes to the upload URL).
"""
from __future__ import annotations

from datetime import datetime, time, timezone
from typing import Any
from urllib.parse import quote

from ..errors import AuthError, ChannelError
from ..model import Part, Receipt, Variant
from ..secrets import mask
from .base import Channel, classify_http

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif"})


class LinkedInChannel(Channel):
    network = "linkedin"
    label = "LinkedIn page"
    max_length = 3000
    max_images = 9                        # content.multiImage takes 2 to 20; 9 keeps posts readable
    max_videos = 0                        # video needs the Videos API's multi-part upload: not supported yet
    alt_text = True
    max_alt_length = 4086
    threads = False
    can_find_existing = True
    image_types = IMAGE_TYPES
    max_image_bytes = 36 * 1024 * 1024
    secret_fields = ("access_token",)
    client_modules = ("requests",)
    required_settings = ("organization",)
    default_api_base = "https://api.linkedin.com"

    def __init__(self, config, timeout: float = 30.0):
        super().__init__(config, timeout)
        self._session = None

    def session(self):
        import requests

        if self._session is None:
            self._session = requests.Session()
        self._session.headers.update({
            "Authorization": f"Bearer {self.secret('access_token')}",
            "LinkedIn-Version": str(self.setting("api_version", "202411")),
            "X-Restli-Protocol-Version": "2.0.0",
        })
        return self._session

    def request(self, method: str, url: str, **kwargs: Any):
        with self.network_errors():
            response = self.session().request(method, url if url.startswith("http") else self.api_base + url,
                                              timeout=self.timeout, **kwargs)
        if response.status_code >= 400:
            try:
                body = response.json()
                message = f"{body.get('code', '')} {body.get('message', '')}".strip()
            except ValueError:
                body, message = {}, response.text[:200]
            if response.status_code in (401, 403) and any(w in message.upper() for w in
                                                          ("TOKEN", "ACCESS_DENIED", "PERMISSION")):
                raise AuthError(mask(f"{self.name}: HTTP {response.status_code}: {message}"))
            raise classify_http(self.name, response.status_code, message, response.headers)
        return response

    def _upload_image(self, media) -> str:
        organization = self.setting("organization")
        init = self.request("POST", "/rest/images", params={"action": "initializeUpload"},
                            json={"initializeUploadRequest": {"owner": organization}}).json()["value"]
        with open(media.path, "rb") as handle:
            self.request("PUT", init["uploadUrl"], data=handle, headers={"Content-Type": media.mime})
        return init["image"]

    def post_part(self, variant: Variant, index: int, part: Part, parent: Receipt | None,
                  root: Receipt | None, key: str) -> Receipt:
        body: dict[str, Any] = {
            "author": self.setting("organization"), "commentary": _escape(part.text), "visibility": "PUBLIC",
            "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": []},
            "lifecycleState": "PUBLISHED", "isReshareDisabledByAuthor": False,
        }
        images = [(self._upload_image(m), m.alt) for m in variant.media if m.kind == "image"]
        if len(images) == 1:
            body["content"] = {"media": {"id": images[0][0], "altText": images[0][1]}}
        elif images:
            body["content"] = {"multiImage": {"images": [{"id": urn, "altText": alt} for urn, alt in images]}}
        response = self.request("POST", "/rest/posts", json=body)
        urn = response.headers.get("x-restli-id") or response.headers.get("x-linkedin-id")
        if not urn:
            raise ChannelError(f"{self.name}: LinkedIn accepted the post but returned no id")
        return Receipt(urn, f"https://www.linkedin.com/feed/update/{urn}/")

    def find_existing(self, variant: Variant, index: int, part: Part) -> Receipt | None:
        organization = quote(str(self.setting("organization")), safe="")
        posts = self.request("GET", f"/rest/posts?author={organization}&q=author&count=20",
                             headers={"X-RestLi-Method": "FINDER"}).json()
        wanted = _escape(part.text)
        for post in posts.get("elements", []):
            if post.get("commentary") == wanted:
                return Receipt(post["id"], f"https://www.linkedin.com/feed/update/{post['id']}/")
        return None

    def check(self) -> dict[str, Any]:
        organization = str(self.setting("organization"))
        found = self.request("GET", f"/rest/organizations/{organization.rsplit(':', 1)[-1]}").json()
        expires = self.setting("token_expires")       # LinkedIn tokens last 60 days; admins record the date
        expires_at = None
        if expires:
            day = datetime.fromisoformat(str(expires))
            expires_at = day if day.tzinfo else datetime.combine(day.date(), time(0), timezone.utc)
        name = found.get("localizedName") or organization
        return {"account": name, "expires_at": expires_at}


def _escape(text: str) -> str:
    """LinkedIn's 'little text' format: these characters must be backslash-escaped or the
    post is cut or garbled (e.g. text in parentheses is read as a mention)."""
    for char in "\\|{}@[]()<>#*_~":
        text = text.replace(char, "\\" + char)
    return text
