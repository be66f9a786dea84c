"""Fault injection against RabbitMQ nodes and webhook receivers started for the test alone."""
