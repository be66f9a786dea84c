"""Typed application state shared by the HTTP handlers."""

from aiohttp import web

from router.broker import Broker
from router.configsvc import ConfigService
from router.consumer import Consumer
from router.publisher import Publisher
from router.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
BROKER = web.AppKey("broker", Broker)
PUBLISHER = web.AppKey("publisher", Publisher)
CONSUMERS = web.AppKey("consumers", list[Consumer])
CONFIG = web.AppKey("config", ConfigService)
