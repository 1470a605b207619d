"""strangler.schema_registry: a Confluent-compatible schema registry (Avro) and its client.

Where things are:

- ``model``, ``identifiers``, ``errors``: ids, subjects, versions, levels, modes; Confluent codes
- ``avro_schema``, ``canonical``, ``default_values``: parsing, Java's canonical string, defaults
- ``compatibility``: the pure function judging a new schema against earlier versions
- ``records``: the ``_schemas`` log records, byte-compatible with Confluent's topic
- ``view``: in-memory state rebuilt from the log
- ``storage`` (interface), ``sqlite_storage``, ``kafka_storage``: the log itself
- ``leader_election``, ``forwarding``: one elected writer, followers forward writes
- ``registry``: the operations and Confluent's rules
- ``routes``, ``request_bodies``, ``negotiation``, ``error_responses``, ``middleware``, ``app``:
  the HTTP API; ``metrics``; ``config`` and ``server``: running it
- ``client``, ``serde``: what the rest of strangler uses (wire format: magic 0, 4-byte id)
"""
