"""Configuration schema: one msgspec Struct per section, decoded from TOML.

Each area owns its section module (``market``, ``trading``, ``storage``,
``observability``); ``app`` assembles them into the root ``AppConfig``.
"""
