"""An X (Twitter) test double: API v2 tweets, users and media (upload and metadata).

Shapes follow X's API reference and the responses recorded in tweepy's cassettes
(create_tweet -> 201 {"data": {"id", "text", "edit_history_tweet_ids"}}; errors as
{"title", "detail", "type", "status"}; 429 with x-rate-limit-* headers).  It rejects a
tweet whose text duplicates an earlier one (403), as X does, and shortens links in
what it returns to t.co, as X does.  Media follows the v2 upload flow of X's docs and
sample code: initialize (JSON) -> {"data": {"id", "media_key", "expires_after_secs"}},
append (multipart: media, segment_index), finalize -> processing_info for video, STATUS
polls, and /2/media/metadata for alt text.
"""
from __future__ import annotations

import re
import time

from .base import Request, Response, TestServer

USER = {"id": "2244994945", "name": "Blackburn Council", "username": "BlackburnCouncil"}
_URL = re.compile(r"https?://\S+")


def _now() -> str:
    """X's timestamps: ISO 8601 in UTC with milliseconds, e.g. 2026-11-25T09:00:00.000Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def problem(status: int, title: str, detail: str) -> Response:
    return Response(status, {"title": title, "detail": detail, "type": "about:blank", "status": status})


class Server(TestServer):
    name = "x"

    def setup_routes(self) -> None:
        self.tweets: dict[str, dict] = {}
        self.reject_duplicates = True           # as X does; the crash test turns it off to see any double post
        # Seconds before a new tweet shows in a user's timeline (X's reads lag its writes).
        self.listing_lag = 0.0
        self.media: dict[str, dict] = {}
        self.alt_text: dict[str, str] = {}
        self.route("POST", r"/2/tweets", self.create_tweet)
        self.route("GET", r"/2/users/me", self.get_me)
        self.route("GET", r"/2/users/(?P<id>\d+)/tweets", self.users_tweets)
        self.video_status_polls = 1             # STATUS answers "in_progress" this many times for a video
        self.processing_error: str | None = None  # set: STATUS says the media failed, with this message
        self.route("POST", r"/2/media/upload/initialize", self.media_initialize)
        self.route("POST", r"/2/media/upload/(?P<id>\d+)/append", self.media_append)
        self.route("POST", r"/2/media/upload/(?P<id>\d+)/finalize", self.media_finalize)
        self.route("GET", r"/2/media/upload", self.media_status)
        self.route("POST", r"/2/media/metadata", self.metadata)
        self.setup_inbox_routes()
        self.setup_lookup_routes()
        self.setup_dm_routes()

    def fault_response(self, kind: str, request: Request) -> Response:
        if kind == "5xx":
            return problem(503, "Service Unavailable", "Service Unavailable")
        if kind == "429":
            reset = int(time.time()) + 60
            response = problem(429, "Too Many Requests", "Too Many Requests")
            response.headers.update({"x-rate-limit-limit": "200", "x-rate-limit-remaining": "0",
                                     "x-rate-limit-reset": str(reset)})
            return response
        if kind == "expired_token":
            return problem(401, "Unauthorized", "Unauthorized")
        if kind == "duplicate":
            return problem(403, "Forbidden", "You are not allowed to create a Tweet with duplicate content.")
        raise ValueError(kind)

    def _signed(self, request: Request) -> bool:
        return (request.header("Authorization") or "").startswith("OAuth ") and \
            'oauth_consumer_key="' in request.header("Authorization")

    def create_tweet(self, request: Request) -> Response:
        if not self._signed(request):
            return problem(401, "Unauthorized", "Unauthorized")
        body = request.json()
        text = body.get("text", "")
        with self.lock:
            if self.reject_duplicates and text in [t["text"] for t in list(self.tweets.values())]:
                return problem(403, "Forbidden", "You are not allowed to create a Tweet with duplicate content.")
            tweet_id = str(int(time.time() * 1000) << 22 | int(self.next_id()) % 4096)
            self.tweets[tweet_id] = {
                "id": tweet_id, "text": text, "edit_history_tweet_ids": [tweet_id],
                "in_reply_to_tweet_id": (body.get("reply") or {}).get("in_reply_to_tweet_id"),
                "media_ids": (body.get("media") or {}).get("media_ids", []),
                "created_at": _now(), "made": time.time(),
            }
        return Response(201, {"data": {"id": tweet_id, "text": text, "edit_history_tweet_ids": [tweet_id]}})

    def get_me(self, request: Request) -> Response:
        if not self._signed(request):
            return problem(401, "Unauthorized", "Unauthorized")
        return Response(200, {"data": USER})

    def users_tweets(self, request: Request) -> Response:
        limit = int(request.query.get("max_results", ["10"])[0])
        listed = [t for t in list(self.tweets.values()) if t.get("made", 0) <= time.time() - self.listing_lag]
        newest = sorted(listed, key=lambda t: int(t["id"]), reverse=True)[:limit]
        fields = ",".join(request.query.get("tweet.fields", [])).split(",")
        data = [{"id": t["id"], "text": _URL.sub("https://t.co/AbCdEf1234", t["text"]),
                 "edit_history_tweet_ids": [t["id"]], **({"created_at": t["created_at"]} if "created_at" in fields else {}),
                 **({"referenced_tweets": [{"type": "replied_to", "id": t["in_reply_to_tweet_id"]}]}
                    if "referenced_tweets" in fields and t.get("in_reply_to_tweet_id") else {})}
                for t in newest]
        meta = {"result_count": len(data)}
        if data:
            meta.update(newest_id=data[0]["id"], oldest_id=data[-1]["id"])
        return Response(200, {"data": data, "meta": meta} if data else {"meta": meta})

    def media_initialize(self, request: Request) -> Response:
        if not self._signed(request):
            return problem(401, "Unauthorized", "Unauthorized")
        body = request.json()
        media_id = self.next_id()
        self.media[media_id] = {"type": body["media_type"], "category": body["media_category"], "segments": {},
                                "total": int(body["total_bytes"]), "polls": 0}
        return Response(200, {"data": {"id": media_id, "media_key": f"3_{media_id}", "expires_after_secs": 86400}})

    def media_append(self, request: Request) -> Response:
        if not self._signed(request):
            return problem(401, "Unauthorized", "Unauthorized")
        media = self.media.get(request.params["id"])
        if media is None:
            return problem(400, "Invalid Request", "media id not found")
        form = request.form()
        media["segments"][int(form["segment_index"])] = form["media"]
        return Response(200, {"data": {"expires_at": int(time.time()) + 86400}})

    def media_finalize(self, request: Request) -> Response:
        if not self._signed(request):
            return problem(401, "Unauthorized", "Unauthorized")
        media_id = request.params["id"]
        media = self.media[media_id]
        media["bytes"] = b"".join(media["segments"][n] for n in sorted(media["segments"]))
        if len(media["bytes"]) != media["total"]:
            return problem(400, "Invalid Request", f"expected {media['total']} bytes, got {len(media['bytes'])}")
        data = {"id": media_id, "media_key": f"3_{media_id}", "size": media["total"], "expires_after_secs": 86400}
        if media["category"] == "tweet_video":
            data["processing_info"] = {"state": "pending", "check_after_secs": 1}
        return Response(200, {"data": data})

    def media_status(self, request: Request) -> Response:
        if not self._signed(request):
            return problem(401, "Unauthorized", "Unauthorized")
        media_id = request.query["media_id"][0]
        media = self.media[media_id]
        media["polls"] += 1
        done = media["polls"] > self.video_status_polls
        info = {"state": "succeeded", "progress_percent": 100} if done else \
            {"state": "in_progress", "check_after_secs": 1, "progress_percent": 50}
        if self.processing_error:
            info = {"state": "failed", "error": {"code": 1, "name": "InvalidMedia", "message": self.processing_error}}
        return Response(200, {"data": {"id": media_id, "media_key": f"3_{media_id}", "processing_info": info}})

    def metadata(self, request: Request) -> Response:
        if not self._signed(request):
            return problem(401, "Unauthorized", "Unauthorized")
        body = request.json()
        self.alt_text[str(body["id"])] = body["metadata"]["alt_text"]["text"]
        return Response(200, {"data": {"id": body["id"], "associated_metadata": body["metadata"]}})

    # ----- the inbox: mentions and conversation search (#11) ---------------------------------
    # From X's API v2 reference: GET /2/users/:id/mentions (since_id, max_results 5-100,
    # pagination_token) and GET /2/tweets/search/recent (query, since_id, max_results 10-100,
    # next_token); newest first; {"data", "includes": {"users"}, "meta": {"newest_id",
    # "oldest_id", "result_count", "next_token"}}; an app without the paid tier gets 403
    # "client-not-enrolled" (X's "Client Forbidden" problem).
    def setup_inbox_routes(self) -> None:
        self.others: dict[str, dict] = {}           # residents' tweets
        self.users = {USER["id"]: USER}
        self.enrolled = True
        self.route("GET", r"/2/users/(?P<id>\d+)/mentions", self.mentions)
        self.route("GET", r"/2/tweets/search/recent", self.search_recent)
        self.route("PUT", r"/2/tweets/(?P<id>\d+)/hidden", self.hide_reply)

    def resident_tweet(self, text: str, reply_to: str | None = None, username: str = "resident",
                       lang: str = "en") -> dict:
        with self.lock:
            user = next((u for u in list(self.users.values()) if u["username"] == username), None)
            if user is None:
                user = {"id": str(1000 + len(self.users)), "name": username.title(), "username": username}
                self.users[user["id"]] = user
            tweet_id = str(int(time.time() * 1000) << 22 | int(self.next_id()) % 4096)
            parent = self.tweets.get(reply_to) or self.others.get(reply_to) if reply_to else None
            tweet = {"id": tweet_id, "text": text, "author_id": user["id"], "lang": lang,
                     "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                     "conversation_id": (parent.get("conversation_id") or parent["id"]) if parent else tweet_id,
                     "edit_history_tweet_ids": [tweet_id]}
            if parent:
                tweet["referenced_tweets"] = [{"type": "replied_to", "id": parent["id"]}]
                tweet["in_reply_to_user_id"] = parent.get("author_id", USER["id"])
            self.others[tweet_id] = tweet
        return tweet

    def edit_tweet(self, tweet_id: str, text: str) -> dict:
        """X makes an edit a new tweet whose edit_history_tweet_ids lists the original first."""
        with self.lock:
            old = self.others[tweet_id]
            time.sleep(0.002)                       # a later snowflake than any tweet so far
            new_id = str(int(time.time() * 1000) << 22 | int(self.next_id()) % 4096)
            history = old["edit_history_tweet_ids"] + [new_id]
            self.others[new_id] = {**old, "id": new_id, "text": text, "edit_history_tweet_ids": history}
            old["edit_history_tweet_ids"] = history
        return self.others[new_id]

    def _forbidden(self) -> Response:
        response = problem(403, "Client Forbidden", "When authenticating requests to the Twitter API v2 endpoints, "
                           "you must use keys and tokens from a Twitter developer App that is attached to a Project.")
        response.body.update({"reason": "client-not-enrolled", "type": "https://api.twitter.com/2/problems/"
                              "client-forbidden", "required_enrollment": "Appropriate Level of API Access"})
        return response

    def _page(self, request: Request, tweets: list[dict], token_param: str) -> Response:
        query = request.query
        if query.get("since_id"):
            tweets = [t for t in tweets if int(t["id"]) > int(query["since_id"][0])]
        tweets = sorted(tweets, key=lambda t: int(t["id"]), reverse=True)
        if query.get(token_param):
            tweets = [t for t in tweets if int(t["id"]) < int(query[token_param][0])]
        size = int(query.get("max_results", ["10"])[0])
        page, rest = tweets[:size], tweets[size:]
        if not page:
            return Response(200, {"meta": {"result_count": 0}})
        fields = set(",".join(query.get("tweet.fields", [""])).split(",")) | {"id", "text", "edit_history_tweet_ids"}
        meta = {"newest_id": page[0]["id"], "oldest_id": page[-1]["id"], "result_count": len(page)}
        if rest:
            meta["next_token"] = page[-1]["id"]        # opaque to clients; here the oldest id so far
        users = [self.users[t["author_id"]] for t in page if t["author_id"] in self.users]
        return Response(200, {"data": [{k: v for k, v in t.items() if k in fields} for t in page],
                              "includes": {"users": list({u["id"]: u for u in users}.values())}, "meta": meta})

    def _all(self) -> list[dict]:
        council = [{**t, "author_id": USER["id"], "created_at": t.get("created_at", time.strftime(
            "%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())), "conversation_id": t.get("conversation_id") or t["id"]}
            for t in list(self.tweets.values())]
        return council + list(self.others.values())

    def mentions(self, request: Request) -> Response:
        if not self._signed(request):
            return problem(401, "Unauthorized", "Unauthorized")
        if not self.enrolled:
            return self._forbidden()
        handle = f"@{USER['username']}".lower()
        found = [t for t in list(self.others.values()) if handle in t["text"].lower()
                 or t.get("in_reply_to_user_id") == request.params["id"]]
        return self._page(request, found, "pagination_token")

    def search_recent(self, request: Request) -> Response:
        if not self._signed(request):
            return problem(401, "Unauthorized", "Unauthorized")
        if not self.enrolled:
            return self._forbidden()
        query = request.query["query"][0]
        if len(query) > 512:
            return problem(400, "Invalid Request", "One or more parameters to your request was invalid.")
        wanted = set(re.findall(r"conversation_id:(\d+)", query))
        found = [t for t in self._all() if t["conversation_id"] in wanted and t["id"] not in wanted]
        return self._page(request, found, "next_token")

    def hide_reply(self, request: Request) -> Response:
        """PUT /2/tweets/:id/hidden {"hidden": true} -> {"data": {"hidden": true}}; only a reply
        in a conversation the account started."""
        if not self._signed(request):
            return problem(401, "Unauthorized", "Unauthorized")
        tweet = self.others.get(request.params["id"])
        root = self.tweets.get(tweet["conversation_id"]) if tweet else None
        if tweet is None or root is None:
            return problem(403, "Forbidden", "You cannot hide or unhide replies to a conversation you do not own.")
        tweet["hidden"] = bool(request.json().get("hidden"))
        return Response(200, {"data": {"hidden": tweet["hidden"]}})

    # ----- the inbox: deleted tweets (#11) -----------------------------------------------------
    # GET /2/tweets?ids=... (X API v2 "Tweets lookup", up to 100 ids): HTTP 200 with the
    # tweets that exist in "data" and, for each that does not, an "errors" entry
    # {"value", "detail": "Could not find tweet with ids: [ID].", "title": "Not Found Error",
    # "resource_type": "tweet", "parameter": "ids", "resource_id", "type":
    # "https://api.twitter.com/2/problems/resource-not-found"} (X's documented partial error).
    def setup_lookup_routes(self) -> None:
        self.route("GET", r"/2/tweets", self.lookup_tweets)

    def delete_resident_tweet(self, tweet_id: str) -> None:
        """A resident deletes their tweet (every version of an edited one goes with it)."""
        with self.lock:
            tweet = self.others.pop(tweet_id)
            for other in tweet["edit_history_tweet_ids"]:
                self.others.pop(other, None)

    def lookup_tweets(self, request: Request) -> Response:
        if not self._signed(request):
            return problem(401, "Unauthorized", "Unauthorized")
        ids = ",".join(request.query.get("ids", [""])).split(",")
        if not ids or len(ids) > 100:
            return problem(400, "Invalid Request", "The `ids` query parameter value [] is not valid")
        known = {t["id"]: t for t in self._all()}
        data = [{"id": i, "text": known[i]["text"], "edit_history_tweet_ids": known[i]["edit_history_tweet_ids"]}
                for i in ids if i in known]
        errors = [{"value": i, "detail": f"Could not find tweet with ids: [{i}].", "title": "Not Found Error",
                   "resource_type": "tweet", "parameter": "ids", "resource_id": i,
                   "type": "https://api.twitter.com/2/problems/resource-not-found"} for i in ids if i not in known]
        return Response(200, {**({"data": data} if data else {}), **({"errors": errors} if errors else {})})

    # ----- the inbox: direct messages (#11) ------------------------------------------------------
    # X API v2 Direct Messages, shapes as tweepy's cassette test_manage_and_lookup_direct_messages
    # recorded them: GET /2/dm_events and GET /2/dm_conversations/:id/dm_events -> {"data":
    # [{"event_type": "MessageCreate", "id", "text", ...dm_event.fields}], "meta": {"result_count",
    # "next_token", "previous_token"}}, newest first, no since_id; POST /2/dm_conversations/:id/
    # messages {"text"} -> 201 {"data": {"dm_conversation_id", "dm_event_id"}}.  A one-to-one
    # conversation's id is the two user ids joined by "-", smaller first.  An app without the
    # Direct Messages permission gets 403.
    def setup_dm_routes(self) -> None:
        self.dm_events: list[dict] = []
        self.dm_allowed = True
        self.route("GET", r"/2/dm_events", self.list_dm_events)
        self.route("GET", r"/2/dm_conversations/(?P<conversation>[\d-]+)/dm_events", self.list_dm_events)
        self.route("POST", r"/2/dm_conversations/(?P<conversation>[\d-]+)/messages", self.send_dm)

    def _dm(self, conversation: str, sender: str, text: str) -> dict:
        event = {"id": str(int(time.time() * 1000) << 22 | int(self.next_id()) % 4096), "event_type": "MessageCreate",
                 "text": text, "dm_conversation_id": conversation, "created_at": _now(), "sender_id": sender,
                 "participant_ids": conversation.split("-")}
        self.dm_events.append(event)
        return event

    def resident_dm(self, text: str, username: str = "resident") -> dict:
        with self.lock:
            user = next((u for u in list(self.users.values()) if u["username"] == username), None)
            if user is None:
                user = {"id": str(1000 + len(self.users)), "name": username.title(), "username": username}
                self.users[user["id"]] = user
            pair = sorted([user["id"], USER["id"]], key=int)
            return self._dm("-".join(pair), user["id"], text)

    def _dm_forbidden(self) -> Response:
        return problem(403, "Forbidden", "This application is not allowed to access or delete your direct messages.")

    def list_dm_events(self, request: Request) -> Response:
        if not self._signed(request):
            return problem(401, "Unauthorized", "Unauthorized")
        if not self.dm_allowed:
            return self._dm_forbidden()
        events = [e for e in self.dm_events if e["dm_conversation_id"] == request.params.get("conversation",
                                                                                              e["dm_conversation_id"])]
        events = sorted(events, key=lambda e: int(e["id"]), reverse=True)
        token = request.query.get("pagination_token", [None])[0]
        if token:
            events = [e for e in events if int(e["id"]) < int(token)]
        size = int(request.query.get("max_results", ["100"])[0])
        page, rest = events[:size], events[size:]
        fields = set(",".join(request.query.get("dm_event.fields", [""])).split(",")) | {"id", "text", "event_type"}
        meta = {"result_count": len(page)}
        if rest:
            meta["next_token"] = page[-1]["id"]
        if not page:
            return Response(200, {"meta": meta})
        body = {"data": [{k: v for k, v in e.items() if k in fields} for e in page], "meta": meta}
        if "sender_id" in ",".join(request.query.get("expansions", [""])):
            body["includes"] = {"users": [self.users[i] for i in dict.fromkeys(e["sender_id"] for e in page)
                                          if i in self.users]}
        return Response(200, body)

    def send_dm(self, request: Request) -> Response:
        if not self._signed(request):
            return problem(401, "Unauthorized", "Unauthorized")
        if not self.dm_allowed:
            return self._dm_forbidden()
        conversation = request.params["conversation"]
        if not any(e["dm_conversation_id"] == conversation for e in self.dm_events):
            return problem(400, "Invalid Request", "One or more parameters to your request was invalid.")
        with self.lock:
            event = self._dm(conversation, USER["id"], request.json().get("text", ""))
        return Response(201, {"data": {"dm_conversation_id": conversation, "dm_event_id": event["id"]}})
