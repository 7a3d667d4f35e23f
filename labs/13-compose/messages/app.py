"""The 12-factor lab's message API (docker-labs, a Node.js/Sails app), rewritten in Python.

The routes are the lab's: GET /message (all), GET /message/ID, POST /message?text=...,
PUT /message/ID?text=..., DELETE /message/ID; a message is {"id", "text", "createdAt",
"updatedAt"}. GET / says which process answered and where it keeps the messages.

Factors III and IV: the backing service is named by the environment only, never in the
code. REDIS_URL (redis://HOST:PORT/DB) chooses a Redis; without it (or empty) the messages
stay in this process's memory, which factor VI forbids: each replica then has its own, and
a restart loses them. The lab's docker-compose file passes REDIS_URL=redis, a host name,
while its code reads REDIS_HOST: a bare host name is accepted too.
"""

import json
import os
import socket
from datetime import datetime, timezone

from flask import Flask, abort, jsonify, request


class MemoryStore:
    """Messages in a dict of this process: what a stateless process must not do."""

    def __init__(self):
        self.items = {}
        self.last = 0

    def next_id(self):
        self.last += 1
        return self.last

    def all(self):
        return [self.items[k] for k in sorted(self.items)]

    def get(self, key):
        return self.items.get(key)

    def put(self, message):
        self.items[message["id"]] = message

    def delete(self, key):
        return self.items.pop(key, None) is not None


class RedisStore:
    """Messages in a Redis hash ``messages`` (id → JSON), ids from the counter ``message:id``."""

    def __init__(self, url):
        from redis import Redis

        if "://" not in url:
            url = f"redis://{url}:6379/0"
        self.redis = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)

    def next_id(self):
        return self.redis.incr("message:id")

    def all(self):
        found = {int(k): json.loads(v) for k, v in self.redis.hgetall("messages").items()}
        return [found[k] for k in sorted(found)]

    def get(self, key):
        value = self.redis.hget("messages", key)
        return json.loads(value) if value else None

    def put(self, message):
        self.redis.hset("messages", message["id"], json.dumps(message))

    def delete(self, key):
        return self.redis.hdel("messages", key) == 1


BACKEND = os.environ.get("REDIS_URL") or os.environ.get("REDIS_HOST") or ""
store = RedisStore(BACKEND) if BACKEND else MemoryStore()
app = Flask(__name__)
app.json.sort_keys = False  # a message reads id, text, createdAt, updatedAt


def now():
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def text_param():
    text = request.args.get("text") or request.form.get("text")
    if not text:
        abort(400, "text is required")
    return text


@app.get("/")
def whoami():
    return jsonify(hostname=socket.gethostname(), backend=BACKEND or "memory")


@app.get("/message")
def list_messages():
    return jsonify(store.all())


@app.post("/message")
def create_message():
    stamp = now()
    message = {"id": store.next_id(), "text": text_param(), "createdAt": stamp,
               "updatedAt": stamp}
    store.put(message)
    return jsonify(message), 201


@app.get("/message/<int:key>")
def get_message(key):
    return jsonify(store.get(key) or abort(404))


@app.put("/message/<int:key>")
def update_message(key):
    message = store.get(key) or abort(404)
    message.update(text=text_param(), updatedAt=now())
    store.put(message)
    return jsonify(message)


@app.delete("/message/<int:key>")
def delete_message(key):
    if not store.delete(key):
        abort(404)
    return "", 204


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=int(os.environ.get("PORT", "80")))
