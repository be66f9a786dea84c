"""Typed application state shared by the HTTP handlers."""

from aiohttp import web

from router.amqp.broker import Broker
from router.amqp.publisher import Publisher
from router.config.configsvc import ConfigService
from router.config.settings import Settings
from router.config.store import AttemptLog
from router.delivery.consumer import Consumer
from router.delivery.status import StatusBoard
from router.history import Recorder
from router.http.ratelimit import TokenBuckets

SETTINGS = web.AppKey("settings", Settings)
BROKER = web.AppKey("broker", Broker)
PUBLISHER = web.AppKey("publisher", Publisher)
CONSUMERS = web.AppKey("consumers", list[Consumer])
CONFIG = web.AppKey("config", ConfigService)
ROLES = web.AppKey("roles", list[str])  # the roles this process runs
INGEST_RATES = web.AppKey("ingest_rates", TokenBuckets)  # when ingest's rate is limited
ATTEMPTS = web.AppKey("attempts", AttemptLog)  # the attempt history GET /attempts reads
HISTORY = web.AppKey("history", Recorder)  # records this process's attempts, when on
STATUS = web.AppKey("status", StatusBoard)  # what the delivering processes say they are doing
