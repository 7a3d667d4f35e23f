"""L'application Python du cours : une page qui salue, donne le nom d'hôte du conteneur et
compte les visites dans Redis (joint par le nom « redis »), ou dit pourquoi elle ne compte pas."""

import os
import socket

from flask import Flask
from redis import Redis, RedisError

# Délais courts : sans Redis, la page doit répondre vite, avec un message.
redis = Redis(host="redis", db=0, socket_connect_timeout=2, socket_timeout=2)
app = Flask(__name__)


@app.route("/")
def bonjour():
    try:
        visites = redis.incr("compteur")
    except RedisError:
        visites = "<i>Redis injoignable, compteur désactivé</i>"
    return (f"<h3>Hello {os.getenv('NAME', 'world')}!</h3>"
            f"<b>Hostname:</b> {socket.gethostname()}<br/>"
            f"<b>Visits:</b> {visites}")


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=80)
